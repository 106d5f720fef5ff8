"""Which shard owns a stream: a stable hash of the stream's id, so one aggregate always lands on
the same shard (its one writer), whoever sends to it."""

from __future__ import annotations

import zlib


def shard_of(stream: str, shards: int) -> int:
    return zlib.crc32(stream.encode()) % shards
