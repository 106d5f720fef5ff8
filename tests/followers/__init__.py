"""The read side: views, follower groups, reactors, live delivery."""
