"""The write side: hosting aggregates, notices."""
