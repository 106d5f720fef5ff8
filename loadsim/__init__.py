"""The load simulator behind `bin/loadsim`: workloads with their own models, client drivers,
verification of the end state against the log and the model, and the report."""
