"""The clients a program uses, by their public names:

    from actors.client import Encore, AsyncEncore

`Encore` (sync, thread-safe) and `AsyncEncore` (asyncio) live in `actors.clients`."""

from actors.clients.async_client import AsyncEncore
from actors.clients.sync_client import ClientState, CommandResult, Encore, new_command_id
from actors.errors import EncoreError

__all__ = ["AsyncEncore", "ClientState", "CommandResult", "Encore", "EncoreError", "new_command_id"]
