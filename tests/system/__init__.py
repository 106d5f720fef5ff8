"""Launched and embedded systems: supervision, faults, bad input, metrics, the layout."""
