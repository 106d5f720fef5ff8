"""Small builders shared by the tests."""

from storage import AppendEntry, NewEvent


def entry(command_id, stream, expected, *types, data=None):
    events = tuple(NewEvent(t, dict(data or {"n": i})) for i, t in enumerate(types))
    return AppendEntry(command_id, stream, expected, events)


def assert_log_gapless(store, *, live=False):
    """The log is gapless, each stream is gapless, and each stream read on its own (whole, and
    from its middle) is exactly its events in the log. Returns the log. `live`: writers may
    still be appending, so the per-stream reads, made after the log was read, may see more
    events; what the log held must be their beginning."""
    events = store.read_log(after=0, limit=10**9)
    assert [e.offset for e in events] == list(range(1, len(events) + 1))
    by_stream = {}
    for e in events:
        by_stream.setdefault(e.stream, []).append(e)
    for stream, stream_events in by_stream.items():
        count, middle = len(stream_events), len(stream_events) // 2
        assert [e.version for e in stream_events] == list(range(1, count + 1)), stream
        whole, pair = store.read_stream(stream), store.read_stream(stream, after_version=middle, limit=2)
        if live:
            assert store.stream_version(stream) >= count, stream
            assert whole[:count] == stream_events, stream
            assert pair[:count - middle] == stream_events[middle:middle + 2], stream
        else:
            assert store.stream_version(stream) == count, stream
            assert whole == stream_events, stream
            assert pair == stream_events[middle:middle + 2], stream
    return events


def welcome_ids(data_dir, *offsets):
    """The Message-IDs of the shop's welcome emails for the accounts opened at `offsets` (its
    effect key: the system's id, the reactor, the offset)."""
    from pathlib import Path

    from storage import open_store

    with open_store(Path(data_dir) / "store") as store:
        system = store.system_id()
    return [f"<{system}.welcome.{offset}@encore.invalid>" for offset in offsets]
