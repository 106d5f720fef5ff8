"""The read side: the follower group actor (`group_actor`) hosting view replicas (`view_replica`, the
member; `view_fold`, the fold) and reactors (`reactor_member`; `reactor_runner`, the fold that
turns events into commands), the pages they share (`pages`), what every follower does to be pushed
the log (`follower_actor`), and the feed that serves subscriptions (`feed_actor`). It never imports
the write side."""
