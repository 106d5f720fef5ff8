"""The ways in: the sync client (`sync_client`), the asyncio client (`async_client`) and what they
run on (`mailbox`, `page_reader`, `endpoints`), the HTTP door (`http_door`), and fields given as
text (`fields`). The public names are in `actors.client`."""
