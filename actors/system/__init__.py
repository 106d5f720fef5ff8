"""Starting and supervising: the supervisor that creates and restarts every actor (`supervisor`), the
launched system and its data directory (`launch`), Thespian transport guards (`loopback`, `frames`,
`poller`), log format and the metrics endpoint the system serves."""
