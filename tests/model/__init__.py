"""The programming model, the sample domains and a user's own app."""
