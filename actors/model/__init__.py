"""What a user writes with: commands, events, queries, aggregates, projections and reactors
(`domain`), and the app that indexes them by the names messages carry (`app`)."""
