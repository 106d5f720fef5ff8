"""The launched system: run it on multiprocTCPBase, find it, attach to it, stop it.

A data directory names a system. While one runs, `<data>/system.json` holds the pid of the
process that owns it (the `bin/encore run` process), its Admin port and its app. Every listener
binds to loopback (see loopback.py). The system's output goes to `<data>/logs/`.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

from . import loopback, poller
from .errors import NoSystemRunning, SystemAlreadyRunning, SystemError_
from .messages import GetTopology, Shutdown, StartSystem, Stopped, SystemReady, Topology
from .settings import Settings

STATE_FILE = "system.json"
SUPERVISOR_NAME = "encore-supervisor"
DEFAULT_PORT = 19450
log = logging.getLogger("encore.system")


# ---------------------------------------------------------------- the state file


def state_path(data_dir: Path) -> Path:
    return Path(data_dir) / STATE_FILE


def read_state(data_dir: Path) -> dict | None:
    try:
        return json.loads(state_path(data_dir).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise SystemError_(f"{state_path(data_dir)} is unreadable ({e}); remove it if no system runs") from e


def pid_alive(pid: int) -> bool:
    """Whether `pid` runs. A zombie does not: a system killed with kill -9 whose owner process no
    one has reaped yet (e.g. under a container init that does not reap) must not block a restart."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True   # no /proc: trust the signal check


def port_listening(port: int, host: str = loopback.LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        return probe.connect_ex((host, port)) == 0


def running_state(data_dir: Path) -> dict:
    """The state of the system running on `data_dir`, or NoSystemRunning saying why not."""
    state = read_state(data_dir)
    if state is None:
        raise NoSystemRunning(
            f"no Encore system is running for data directory {data_dir} (no {STATE_FILE}); "
            f"start one with `bin/encore start --data {data_dir}`"
        )
    if not pid_alive(state["pid"]):
        raise NoSystemRunning(
            f"the Encore system for {data_dir} is not running: {STATE_FILE} names pid {state['pid']}, "
            f"which is gone (stale state file; it crashed or was killed). Start it again with "
            f"`bin/encore start --data {data_dir}`"
        )
    if not port_listening(state["port"], state.get("host", loopback.LOOPBACK)):
        raise NoSystemRunning(
            f"the Encore system for {data_dir} (pid {state['pid']}) does not answer on port "
            f"{state['port']}; it may be starting or stopping: retry, or check {state.get('log_dir')}"
        )
    return state


# ---------------------------------------------------------------- Thespian set-up


def capabilities(port: int) -> dict[str, Any]:
    return {"Admin Port": port, "Process Startup Method": "fork"}


def log_defs(log_dir: Path) -> dict:
    handler = {"class": "logging.FileHandler", "filename": str(log_dir / "encore.log"), "formatter": "plain"}
    return {
        "version": 1,
        "formatters": {"plain": {"format": "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"}},
        "handlers": {"file": handler},
        "root": {"handlers": ["file"], "level": "INFO"},
        "loggers": {"thespian": {"level": "WARNING"}},
    }


def _actor_system(port: int, log_dir: Path | None = None):
    from thespian.actors import ActorSystem

    poller.install()  # before the system exists: its actor processes are forked from this one
    logs = log_defs(log_dir) if log_dir else None
    return ActorSystem("multiprocTCPBase", capabilities(port), logDefs=logs, transientUnique=True)


# ---------------------------------------------------------------- running a system


def check_can_start(settings: Settings, port: int) -> None:
    state = read_state(settings.data_dir)
    if state is not None and pid_alive(state["pid"]):
        raise SystemAlreadyRunning(
            f"an Encore system is already running for {settings.data_dir} (pid {state['pid']}, port "
            f"{state['port']}); stop it with `bin/encore stop --data {settings.data_dir}`"
        )
    if state is not None:
        log.warning("removing stale state file %s (pid %s is gone)", state_path(settings.data_dir), state["pid"])
        state_path(settings.data_dir).unlink(missing_ok=True)
    if port_listening(port):
        raise SystemAlreadyRunning(f"port {port} is already in use on 127.0.0.1; choose another with --port")


def run(app_path: str, settings: Settings, *, port: int, allow_remote: bool = False,
        host: str | None = None, ready: threading.Event | None = None) -> dict:
    """Run the system in this process until SIGTERM or SIGINT; then stop it gracefully.
    Returns the shutdown report."""
    host = loopback.install(host, allow_remote=allow_remote)
    check_can_start(settings, port)
    log_dir = settings.data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    system = _actor_system(port, log_dir)
    try:
        supervisor = _start(system, app_path, settings)
        _write_state(settings, port, host, app_path, log_dir)
        if ready is not None:
            ready.set()
        while not stop.wait(0.5):
            pass
        return _stop(system, supervisor)
    finally:
        system.shutdown()
        state_path(settings.data_dir).unlink(missing_ok=True)


def _start(system: Any, app_path: str, settings: Settings) -> Any:
    from .supervisor import Supervisor

    supervisor = system.createActor(Supervisor, globalName=SUPERVISOR_NAME)
    reply = system.ask(supervisor, StartSystem(app_path, settings.to_plain()), 120)
    if not isinstance(reply, SystemReady) or reply.topology is None:
        reason = reply.error if isinstance(reply, SystemReady) else "no answer within 120s"
        raise SystemError_(f"the Encore system on {settings.data_dir} did not start: {reason}")
    return supervisor


def _stop(system: Any, supervisor: Any) -> dict:
    reply = system.ask(supervisor, Shutdown(), 60)
    return reply.report if isinstance(reply, Stopped) else {"error": "no shutdown report within 60s"}


def _write_state(settings: Settings, port: int, host: str, app_path: str, log_dir: Path) -> None:
    state = {"pid": os.getpid(), "port": port, "host": host, "app": app_path, "started": time.time(),
             "log_dir": str(log_dir), "data_dir": str(settings.data_dir), "settings": settings.to_plain()}
    temporary = state_path(settings.data_dir).with_suffix(".tmp")
    temporary.write_text(json.dumps(state, indent=2))
    temporary.replace(state_path(settings.data_dir))


# ---------------------------------------------------------------- attaching


def connect(data_dir: Path, *, timeout: float = 10.0) -> tuple[Any, Any, Topology]:
    """A client endpoint, the supervisor and the topology of the system running on `data_dir`.
    Never starts a system: it checks that one answers first."""
    state = running_state(data_dir)
    loopback.install(state.get("host"), allow_remote=True)  # the operator chose it at start
    system = _actor_system(state["port"])
    from .supervisor import Supervisor

    supervisor = system.createActor(Supervisor, globalName=SUPERVISOR_NAME)
    topology = system.ask(supervisor, GetTopology(), timeout)
    if not isinstance(topology, Topology):
        raise NoSystemRunning(f"the Encore system for {data_dir} did not answer within {timeout}s")
    return system, supervisor, topology


def request_stop(data_dir: Path, *, timeout: float = 90.0) -> dict:
    """Ask the owner process of the system on `data_dir` to stop; wait until it has exited."""
    state = running_state(data_dir)
    os.kill(state["pid"], signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(state["pid"]) and time.monotonic() < deadline:
        time.sleep(0.1)  # polling another process's exit: there is no reply to wait on
    if pid_alive(state["pid"]):
        raise SystemError_(f"the Encore system (pid {state['pid']}) did not stop within {timeout}s")
    return state
