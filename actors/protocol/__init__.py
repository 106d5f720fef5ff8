"""What crosses between processes: the messages (`messages`), results and errors as plain data
(`wire`), and the meta a command carries to its events (`metadata`)."""
