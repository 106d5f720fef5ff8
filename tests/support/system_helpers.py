"""Start and stop real launched systems for tests; never leave a process behind."""

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
ENCORE = [sys.executable, str(ROOT / "bin" / "encore")]


def child(*args, stdin=False):
    """`python -m ARGS` from the project's root, its output (and input, if asked) piped."""
    return subprocess.Popen([sys.executable, "-m", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.PIPE if stdin else None, text=True, cwd=ROOT)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def encore(*args, data, timeout=60, check=False, env=None):
    done = subprocess.run([*ENCORE, *args, "--data", str(data)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})
    if check and done.returncode != 0:
        raise AssertionError(f"encore {args} failed ({done.returncode}): {done.stdout}{done.stderr}")
    return done


def encore_json(*args, data, timeout=60):
    done = encore(*args, "--json", data=data, timeout=timeout)
    return done.returncode, json.loads(done.stdout)


class RunningSystem:
    def __init__(self, data: Path, port: int, env: dict[str, str] | None = None, app: str | None = None,
                 metrics_port: int | None = None, extra_args: tuple[str, ...] = ()):
        self.data, self.port = data, port
        extra = [*(("--app", app) if app else ()), *(("--metrics-port", str(metrics_port)) if metrics_port else ()),
                 *extra_args]
        done = encore("start", "--port", str(port), *extra, data=data, timeout=150, check=True, env=env)
        self.state = json.loads((data / "system.json").read_text())
        self.pid = self.state["pid"]
        self.start_output = done.stdout

    def __enter__(self) -> "RunningSystem":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self):
        if (self.data / "system.json").exists():
            encore("stop", data=self.data, timeout=120)
        self.kill_leftovers()

    def kill_leftovers(self):
        kill_leftovers(self.data)


def launched_system(name: str, **options):
    """A module-scoped fixture: one system launched for a module's tests (RunningSystem's options),
    stopped after them, whatever they did."""
    @pytest.fixture(scope="module")
    def running(tmp_path_factory):
        with RunningSystem(tmp_path_factory.mktemp(name) / "data", free_port(), **options) as system:
            yield system
    return running


def kill_leftovers(data: Path) -> None:
    """Kill, by pid, whatever process of the system on `data` is still alive (after a failed test)."""
    for pid in system_pids(data):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def listening_sockets(pids) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN state held by one of `pids`, from /proc."""
    inodes = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except (FileNotFoundError, PermissionError):
            continue
    found = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            if parts[3] != "0A" or parts[9] not in inodes:  # 0A: LISTEN
                continue
            hex_addr, hex_port = parts[1].split(":")
            found.append((_address(hex_addr, width), int(hex_port, 16)))
    return found


def _address(hex_addr: str, width: int) -> str:
    if width == 8:
        return socket.inet_ntop(socket.AF_INET, bytes.fromhex(hex_addr)[::-1])
    raw = b"".join(bytes.fromhex(hex_addr[i:i + 8])[::-1] for i in range(0, 32, 8))
    return socket.inet_ntop(socket.AF_INET6, raw)


def system_pids(data: Path) -> list[int]:
    """Every process of the system running on `data`: the run process and the actor processes
    Thespian forked from it (they keep its command line, which names this data directory)."""
    marker = f"run\0--data\0{Path(data).resolve()}\0".encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except (FileNotFoundError, PermissionError, ProcessLookupError):
                continue
            if marker in cmdline and _alive(int(entry)):
                found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def kill_and_wait(pids, timeout: float = 10.0) -> None:
    """kill -9 each pid and wait for it to be gone (a pidfd becomes readable when its process
    exits, also for a process that is not our child)."""
    fds = []
    for pid in pids:
        try:
            fds.append(os.pidfd_open(pid))
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
    try:
        for fd in fds:
            ready, _, _ = select.select([fd], [], [], timeout)
            assert ready, f"a killed process was still alive after {timeout}s"
    finally:
        for fd in fds:
            os.close(fd)


class Lines:
    """A child's output lines, read by a thread: `next(seconds)` waits at most that long."""

    def __init__(self, process: subprocess.Popen) -> None:
        import queue
        import threading

        self.process, self.lines = process, queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def next(self, seconds: float = 30.0) -> str:
        import queue

        try:
            line = self.lines.get(timeout=seconds)
        except queue.Empty:
            raise AssertionError(f"no line from the child within {seconds}s") from None
        if line is None:
            raise AssertionError(f"the child ended: {self.process.stderr.read()[-2000:]}")
        return line


@contextlib.contextmanager
def door_on(data, *options, cwd=ROOT):
    """`encore http` over the system on `data`, started from `cwd`; yields (an httpx client on
    it, its base URL, its process) once it answers, and stops it at the end."""
    import httpx

    port = free_port()
    server = subprocess.Popen([*ENCORE, "http", "--data", str(data), "--port", str(port), *options], cwd=cwd,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "serving" in server.stdout.readline(), server.stderr.read()
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=10) as http:
            wait_until_serving(http, server)
            yield http, base, server
    finally:
        server.terminate()
        server.wait(timeout=30)


def wait_until_serving(http, server, seconds=30):
    import httpx

    def serving():
        assert server.poll() is None, server.stderr.read()
        try:
            return http.get("/status").status_code == 200
        except httpx.TransportError:   # not listening yet: the next try waits on the connect
            return False
    wait_until(serving, seconds=seconds, what="the HTTP door answers")
