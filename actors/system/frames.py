"""Guards Thespian's TCP frame reader against malformed frames.

Thespian frames each message as `<length>>` followed by a pickle. Its `ReceiveBuffer` takes any
integer as the length: a negative one makes the transport call `recv()` with a negative size,
which raises outside the transport's error handling and kills the process that reads it (a shard,
the supervisor, the Admin). A header that never ends grows its buffer without bound. `install()`
makes such frames raise ValueError inside `ReceiveBuffer.addMore`, where the transport already
catches errors: it logs "corrupted incoming data" and closes that one connection, and the process
goes on serving everyone else. Non-numeric lengths and payloads that do not unpickle were already
closed that way. Installed with the loopback patch, before the actor system exists, so every
actor process forked from this one has it.
"""

from __future__ import annotations

from typing import Any

MAX_FRAME_BYTES = 256 * 1024 * 1024   # far above any Encore message (a command is <= 64 KiB)
MAX_HEADER_BYTES = 20                  # digits of the length, then '>'


def check_frame(size: Any, header_so_far: int) -> None:
    """Raise ValueError for a frame length Encore will not read."""
    if size is None:
        if header_so_far > MAX_HEADER_BYTES:
            raise ValueError(f"frame header longer than {MAX_HEADER_BYTES} bytes without its '>'")
        return
    if not 0 <= size <= MAX_FRAME_BYTES:
        raise ValueError(f"frame length {size} is outside 0..{MAX_FRAME_BYTES}")


def install() -> None:
    from thespian.system.transport import streamBuffer

    buffer_class = streamBuffer.ReceiveBuffer
    if getattr(buffer_class.addMore, "encore_guarded", False):
        return
    original = buffer_class.addMore

    def add_more(self: Any, buf: bytes) -> None:
        original(self, buf)
        check_frame(self._size, len(self._buf) if self._size is None else 0)

    add_more.encore_guarded = True  # type: ignore[attr-defined]
    buffer_class.addMore = add_more
