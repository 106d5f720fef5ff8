"""The event store's contract, its LMDB backend, crashes and properties."""
