"""The write side: the shard actor (`shard_actor`), the aggregate instances it hosts and group-commits
(`aggregate_host`, no actor code), and which followers it notices after a commit (`notices`).
It never imports the read side."""
