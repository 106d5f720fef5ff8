"""Small builders shared by the tests."""

from storage import AppendEntry, NewEvent


def entry(command_id, stream, expected, *types, data=None):
    events = tuple(NewEvent(t, dict(data or {"n": i})) for i, t in enumerate(types))
    return AppendEntry(command_id, stream, expected, events)


def assert_log_gapless(store):
    events = store.read_log(after=0, limit=10**9)
    assert [e.offset for e in events] == list(range(1, len(events) + 1))
    by_stream = {}
    for e in events:
        by_stream.setdefault(e.stream, []).append(e.version)
    for stream, versions in by_stream.items():
        assert versions == list(range(1, len(versions) + 1)), stream
        assert store.stream_version(stream) == len(versions)
    return events
