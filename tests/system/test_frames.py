"""Authenticated frames (actors/system/framing.py): with a frame key, nothing is unpickled that did
not come with the key's HMAC, a replayed frame is refused, and the system serves on."""

import contextlib
import os
import pickle
import socket
import stat

import pytest

from actors.errors import ConfigError
from actors.system.framing import FramedPickle, read_key, write_key
from tests.support.system_helpers import (
    RunningSystem,
    encore,
    encore_json,
    free_port,
    listening_sockets,
    system_pids,
)

KEY = os.urandom(32)


class _Touch:
    """A pickle that creates a file when it is unpickled: what a stranger would send."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_frame_round_trips_under_its_key():
    framed = FramedPickle(KEY)
    assert framed.loads(framed.dumps({"a": [1, 2]})) == {"a": [1, 2]}


@pytest.mark.parametrize("spoil, says", [
    (lambda frame: frame[:-1] + bytes([frame[-1] ^ 1]), "does not match"),      # a payload changed
    (lambda frame: pickle.dumps("anything"), "without the frame key"),           # a plain pickle
    (lambda frame: FramedPickle(os.urandom(32)).dumps("x"), "does not match"),   # another key
    (lambda frame: b"EF1", "without the frame key"),                             # cut short
])
def test_a_frame_that_is_not_the_keys_is_refused_before_unpickling(tmp_path, spoil, says):
    framed = FramedPickle(KEY)
    frame = spoil(framed.dumps(_Touch(tmp_path / "ran")))
    with pytest.raises(ValueError, match=says):
        framed.loads(frame)
    assert not (tmp_path / "ran").exists()


def test_a_replayed_or_stale_frame_is_refused(tmp_path, monkeypatch):
    sender, receiver = FramedPickle(KEY), FramedPickle(KEY)
    frame = sender.dumps("once")
    assert receiver.loads(frame) == "once"
    with pytest.raises(ValueError, match="replayed"):
        receiver.loads(frame)
    monkeypatch.setattr("actors.system.framing.time.time", lambda: 1_000.0)   # a frame from long ago
    old = sender.dumps("late")
    monkeypatch.undo()
    with pytest.raises(ValueError, match="clock"):
        receiver.loads(old)


def test_thespians_acknowledgements_pass_and_are_never_unpickled():
    from thespian.system.transport.streamBuffer import ackPacket

    assert FramedPickle(KEY).loads(pickle.dumps(ackPacket)) == ackPacket


def test_a_key_file_must_be_long_random_and_private(tmp_path):
    path = write_key(tmp_path / "key")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(read_key(path)) == 32
    with pytest.raises(ConfigError, match="never replaced"):
        write_key(path)
    short = tmp_path / "short"
    short.write_bytes(b"x" * 10)
    short.chmod(0o600)
    with pytest.raises(ConfigError, match="32 or more"):
        read_key(short)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        read_key(path)
    with pytest.raises(ConfigError, match="encore key"):
        read_key(tmp_path / "missing")


def test_listening_beyond_loopback_without_a_frame_key_is_refused_before_anything_starts(tmp_path):
    done = encore("start", "--port", str(free_port()), "--allow-remote", "10.88.0.1", data=tmp_path / "data")
    assert done.returncode == 2 and "needs a frame key" in done.stderr
    assert system_pids(tmp_path / "data") == []


def _send_raw(port, frame):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        with contextlib.suppress(OSError):   # the process may close it at once: what we want
            connection.sendall(b"%d>" % len(frame) + frame)
            connection.shutdown(socket.SHUT_WR)
            connection.settimeout(2)
            connection.recv(100)


@pytest.mark.slow
def test_a_strangers_frames_run_nothing_and_a_replayed_frame_is_refused_on_every_port(tmp_path):
    key = write_key(tmp_path / "key")
    with RunningSystem(tmp_path / "data", free_port(), extra_args=("--frame-key", str(key))) as system:
        code, opened = encore_json("send", "OpenAccount", "account_id=f1", "owner=o", data=system.data)
        assert code == 0 and opened["status"] == "accepted"   # its own clients hold the key
        pids = sorted(system_pids(system.data))
        ports = sorted({port for _, port in listening_sockets(pids)})
        assert len(ports) >= 3   # the Admin, the supervisor, a shard, the followers, the feed
        stranger, genuine = tmp_path / "stranger-ran", tmp_path / "genuine-ran"
        for port in ports:
            _send_raw(port, pickle.dumps(_Touch(stranger)))                  # no MAC at all
            _send_raw(port, FramedPickle(os.urandom(32)).dumps(_Touch(stranger)))   # another key
        assert not stranger.exists()
        frame = FramedPickle(read_key(key)).dumps(_Touch(genuine))   # made by a holder of the key...
        _send_raw(system.port, frame)   # to the Admin, which always reads what reaches it
        assert genuine.exists()   # (the key's holder may run code: that is what the key is)
        genuine.unlink()
        _send_raw(system.port, frame)   # ...and replayed by whoever saw it pass
        assert not genuine.exists()
        assert sorted(system_pids(system.data)) == pids   # no process died
        code, more = encore_json("send", "Deposit", "account_id=f1", "amount=5", data=system.data)
        assert code == 0 and more["status"] == "accepted"
        code, status = encore_json("status", data=system.data)
        assert all(a["running"] and a["restarts"] == 0 for a in status["actors"]), status
