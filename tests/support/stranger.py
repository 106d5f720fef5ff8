"""A stranger on the network: sends pickles that would create a file (`MARKER`) to each port of
ADDRESS, bare and under a key of its own, and says how each connection ended.

    python -m tests.support.stranger ADDRESS MARKER PORT...
"""

import contextlib
import os
import pickle
import socket
import sys

from actors.system.framing import FramedPickle


class Touch:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def send(address: str, port: int, frame: bytes) -> None:
    with socket.create_connection((address, port), timeout=5) as connection:
        with contextlib.suppress(OSError):   # closed at once: what a guarded port does
            connection.sendall(b"%d>" % len(frame) + frame)
            connection.shutdown(socket.SHUT_WR)
            connection.settimeout(2)
            connection.recv(100)


def main() -> None:
    address, marker, *ports = sys.argv[1:]
    frames = [pickle.dumps(Touch(marker)), FramedPickle(os.urandom(32)).dumps(Touch(marker))]
    for port in map(int, ports):
        for frame in frames:
            send(address, port, frame)
    print(f"sent {len(frames) * len(ports)} frames", flush=True)


if __name__ == "__main__":
    main()
