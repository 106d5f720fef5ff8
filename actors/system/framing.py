"""Authenticated frames: nothing is unpickled that did not come with the frame key's HMAC.

Thespian's TCP transport unpickles whatever reaches a listener. With a frame key installed,
every frame this process sends carries a timestamp, a random nonce and an HMAC-SHA256 of them
and the pickle, under the key (a file of 32 random bytes or more, never sent). Every frame it
receives is checked before anything is unpickled: a wrong or missing MAC, a timestamp outside
WINDOW_S of this host's clock, or a nonce seen before (a replayed frame) raises, and the
transport closes that connection and goes on serving everyone else. Installed before the actor
system exists, so every actor process forked from this one has it; a client installs it before
it connects. Thespian's own two acknowledgement packets (fixed strings, which the sender of a
frame reads back) are the only unauthenticated bytes it takes, and those are compared, never
unpickled.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import pickle
import stat
import struct
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from actors.errors import ConfigError

MAGIC = b"EF1"
MIN_KEY_BYTES = 32
WINDOW_S = 60.0                  # a frame's timestamp must be within this of the receiver's clock
_HEADER = struct.Struct(">3sd16s32s")   # magic, timestamp, nonce, MAC
_MAX_NONCES = 200_000            # nonces remembered for the window (a bound, whatever the rate)


class FramedPickle:
    """What Thespian's transport serializes with: pickle inside an authenticated frame."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._seen: OrderedDict[bytes, float] = OrderedDict()   # nonce -> when it came
        self._lock = threading.Lock()
        self._acks = {pickle.dumps(packet): packet for packet in _ack_packets()}
        self._ack_sizes = {len(raw) for raw in self._acks}   # (so a frame is copied to look it up only then)

    def dumps(self, value: Any) -> bytes:
        payload = pickle.dumps(value)
        stamp, nonce = time.time(), os.urandom(16)
        return _HEADER.pack(MAGIC, stamp, nonce, self._mac(stamp, nonce, payload)) + payload

    def loads(self, frame: bytes) -> Any:
        if len(frame) in self._ack_sizes:
            ack = self._acks.get(bytes(frame))
            if ack is not None:
                return ack
        if len(frame) < _HEADER.size or frame[:3] != MAGIC:
            raise ValueError("a frame without the frame key's MAC: refused before unpickling")
        magic, stamp, nonce, mac = _HEADER.unpack_from(frame)
        payload = frame[_HEADER.size:]
        if not hmac.compare_digest(mac, self._mac(stamp, nonce, payload)):
            raise ValueError("a frame whose MAC does not match the frame key: refused before unpickling")
        now = time.time()
        if abs(now - stamp) > WINDOW_S:
            raise ValueError(f"a frame stamped {now - stamp:.0f}s from this host's clock: refused")
        self._remember(nonce, now)
        return pickle.loads(payload)

    def _mac(self, stamp: float, nonce: bytes, payload: bytes) -> bytes:
        return hmac.new(self._key, struct.pack(">d", stamp) + nonce + payload, hashlib.sha256).digest()

    def _remember(self, nonce: bytes, now: float) -> None:
        with self._lock:
            if nonce in self._seen:
                raise ValueError("a frame seen before (replayed): refused")
            self._seen[nonce] = now
            while self._seen and (len(self._seen) > _MAX_NONCES or next(iter(self._seen.values())) < now - WINDOW_S):
                self._seen.popitem(last=False)


def _ack_packets() -> tuple[str, ...]:
    from thespian.system.transport.streamBuffer import ackDataErrPacket, ackPacket

    return ackPacket, ackDataErrPacket


def read_key(path: str | Path) -> bytes:
    """The frame key in `path`; ConfigError saying what is wrong with the file."""
    path = Path(path)
    try:
        key = path.read_bytes()
        mode = path.stat().st_mode
    except OSError as e:
        raise ConfigError(f"the frame key {path} cannot be read ({e.strerror}); make one with "
                          f"`encore key --out {path}`") from None
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"the frame key {path} holds {len(key)} bytes; it needs {MIN_KEY_BYTES} or more "
                          f"random bytes: make one with `encore key --out {path}`")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"the frame key {path} may be read by others (mode {stat.filemode(mode)}); "
                          f"`chmod 600 {path}`")
    return key


def write_key(path: str | Path) -> Path:
    """A new random key in `path` (mode 600), refusing to replace one."""
    path = Path(path)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path} exists: a frame key is never replaced by accident; remove it first") from None
    with os.fdopen(descriptor, "wb") as out:
        out.write(os.urandom(MIN_KEY_BYTES))
    return path


def install(key_file: str | Path) -> None:
    """Authenticate every frame this process (and its forks) sends and receives."""
    from thespian.system.transport import TCPTransport

    TCPTransport.serializer = FramedPickle(read_key(key_file))
    _fresh_frame_per_retry(TCPTransport.TCPTransport)
    os.environ["ENCORE_FRAME_KEY_FILE"] = str(Path(key_file).resolve())


def _fresh_frame_per_retry(transport: Any) -> None:
    """Thespian sends the bytes it serialized once again when it retries a send (its ACK did not
    come). Under a frame key those bytes would be refused as a replay, or as stale after a long
    wait, where Thespian meant at-least-once: a retry is framed anew (new stamp and nonce)."""
    original = transport._next_XMIT_6
    if getattr(original, "encore_framed", False):
        return

    def retry_step(self: Any, intent: Any) -> Any:
        result = original(self, intent)
        if result is True and getattr(intent, "stage", None) == self._XMITStepSendConnect:
            intent.serMsg = self.serializer(intent)
        return result

    retry_step.encore_framed = True  # type: ignore[attr-defined]
    transport._next_XMIT_6 = retry_step


def installed() -> bool:
    from thespian.system.transport import TCPTransport

    return isinstance(TCPTransport.serializer, FramedPickle)
