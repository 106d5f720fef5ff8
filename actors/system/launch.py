"""The launched system: run it on multiprocTCPBase, find it, attach to it, stop it.

A data directory names a system. While one runs, `<data>/system.json` holds the pid of the
process that owns it (the `bin/encore run` process), its Admin port and its app. Every listener
binds to loopback (see loopback.py). The system's output goes to `<data>/logs/`.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

from actors.errors import ConfigError, NoSystemRunning, SystemAlreadyRunning, SystemError_
from actors.process.settings import STATE_FILE, Settings
from actors.protocol.messages import GetTopology, Shutdown, StandbyReady, StartSystem, Stopped, SystemReady, Topology

from . import framing, loopback, poller
from .cluster import Cluster
from .remote import READY_CAPABILITY

LOCK_FILE = "system.lock"
STOP_REPORT = "last-stop.json"   # flock'd by the running system's processes for their whole life
SUPERVISOR_NAME = "encore-supervisor"
DEFAULT_PORT = 19450
log = logging.getLogger("encore.system")


# ---------------------------------------------------------------- the state file


def state_path(data_dir: Path) -> Path:
    return Path(data_dir) / STATE_FILE


def read_state(data_dir: Path) -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads(state_path(data_dir).read_text())
        return state
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


def running_state(data_dir: Path) -> dict[str, Any]:
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


LOG_FORMATS = ("plain", "json")


def log_defs(log_dir: Path, log_format: str = "plain") -> dict[str, Any]:
    handler = {"class": "logging.FileHandler", "filename": str(log_dir / "encore.log"), "formatter": log_format}
    return {
        "version": 1,
        "formatters": {"plain": {"format": "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"},
                       "json": {"()": "actors.system.logformat.JsonFormatter"}},
        "handlers": {"file": handler},
        "root": {"handlers": ["file"], "level": "INFO"},
        "loggers": {"thespian": {"level": "WARNING"}},
    }


def _actor_system(port: int, log_dir: Path | None = None, log_format: str = "plain") -> Any:
    from thespian.actors import ActorSystem

    poller.install()  # before the system exists: its actor processes are forked from this one
    logs = log_defs(log_dir, log_format) if log_dir else None
    return ActorSystem("multiprocTCPBase", capabilities(port), logDefs=logs, transientUnique=True)


# ---------------------------------------------------------------- running a system


def lock_data_dir(data_dir: Path) -> int:
    """Take the data directory's lock (an exclusive flock on `system.lock`) and return its file
    descriptor: held open for the system's life, and inherited by the actor processes it forks, so
    no second system starts on the directory while any process of this one lives. Raises
    SystemAlreadyRunning, touching nothing, when another system holds it."""
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    fd = os.open(Path(data_dir) / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise _already_running(data_dir) from None
    return fd


def _already_running(data_dir: Path) -> SystemAlreadyRunning:
    state = read_state(data_dir)
    if state is not None and pid_alive(state["pid"]):
        return SystemAlreadyRunning(
            f"an Encore system is already running for {data_dir} (pid {state['pid']}, port {state['port']}); "
            f"stop it with `encore stop --data {data_dir}`")
    return SystemAlreadyRunning(
        f"another Encore system holds {Path(data_dir) / LOCK_FILE}: it is starting, or processes of a "
        f"system whose owner died still run (see `encore status --data {data_dir}` or the pids in its logs)")


def check_can_start(settings: Settings, port: int) -> None:
    """Refuse early, touching nothing, when the directory's lock is held or the port is taken.
    (The lock itself is taken by the process that runs the system.)"""
    os.close(lock_data_dir(settings.data_dir))
    if port_listening(port):
        raise SystemAlreadyRunning(f"port {port} is already in use on 127.0.0.1; choose another with --port")


def _clear_stale_state(data_dir: Path) -> None:
    """Remove a state file left by a system that died (only ever called holding the lock)."""
    state = read_state(data_dir)
    if state is not None:
        log.warning("removing stale state file %s (pid %s is gone)", state_path(data_dir), state["pid"])
        state_path(data_dir).unlink(missing_ok=True)


def run(app_path: str, settings: Settings, *, port: int, allow_remote: bool = False,
        host: str | None = None, ready: threading.Event | None = None, metrics_port: int | None = None,
        log_format: str = "plain", app_dir: str | None = None, frame_key: str | None = None,
        cluster: Cluster | None = None) -> dict[str, Any]:
    """Run the system in this process until SIGTERM or SIGINT; then stop it gracefully.
    Returns the shutdown report."""
    host = secure(host, allow_remote=allow_remote, frame_key=frame_key)
    lock = lock_data_dir(settings.data_dir)   # before anything starts; the loser touches nothing
    try:
        _clear_stale_state(settings.data_dir)
        if port_listening(port):
            raise SystemAlreadyRunning(f"port {port} is already in use on 127.0.0.1; choose another with --port")
        return _run_locked(app_path, settings, port=port, host=host, ready=ready, metrics_port=metrics_port,
                           log_format=log_format, app_dir=app_dir, frame_key=frame_key, cluster=cluster)
    finally:
        os.close(lock)


def _run_locked(app_path: str, settings: Settings, *, port: int, host: str, ready: threading.Event | None,
                metrics_port: int | None = None, log_format: str = "plain",
                app_dir: str | None = None, frame_key: str | None = None,
                cluster: Cluster | None = None) -> dict[str, Any]:
    log_dir = settings.data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    os.environ["THESPLOG_FILE"] = str(log_dir / "thespian.log")  # Thespian's own log, with the system's
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    system = _actor_system(port, log_dir, log_format)
    report: dict[str, Any] = {"error": "the system stopped before it started"}
    try:
        supervisor = _start(system, app_path, settings)
        system.updateCapability(READY_CAPABILITY, True)   # found from other hosts from now on
        if metrics_port is not None:
            _serve_metrics(system, supervisor, metrics_port)
        _write_state(settings, port, host, app_path, log_dir, app_dir or os.getcwd(), frame_key)
        if cluster is not None and settings.cluster_role == "standby":
            threading.Thread(target=_register_standby, args=(system, supervisor, cluster, settings.cluster_host, stop),
                             name="encore-standby-registrar", daemon=True).start()
        if ready is not None:
            ready.set()
        while not stop.wait(0.5):
            pass
        report = _stop(system, supervisor)
        return report
    finally:
        system.shutdown()
        _write_stop_report(log_dir, report)
        state_path(settings.data_dir).unlink(missing_ok=True)


REGISTER_S = 2.0   # how often a standby tells its primary where its batches go


def _register_standby(system: Any, supervisor: Any, cluster: Cluster, host_name: str, stop: threading.Event) -> None:
    """A standby host's registrar: until the system stops, tell the primary's supervisor where
    this host's batches go (its shard), every REGISTER_S: a restart on either side is found.
    A failure is logged when it begins, not at every try."""
    from .remote import connect_cluster  # (late: it points this process at the primary's Admin)

    told, failing = False, ""
    while not stop.wait(0.2 if not told else REGISTER_S):
        try:
            topology = system.ask(supervisor, GetTopology(), 5)
            if not isinstance(topology, Topology) or not topology.shards or topology.shards[0] is None:
                continue
            remote, primary, _ = connect_cluster(cluster, timeout=5, exclude=host_name)
            remote.tell(primary, StandbyReady(host_name, topology.shards[0], 0))
            told = True
            if failing:
                log.warning("standby %s: the primary %s is reachable again", host_name, cluster.primary)
            failing = ""
        except Exception as e:   # the primary is down or unreachable, Thespian, the network: tried again
            if not failing:
                log.warning("standby %s: the primary %s is not reachable: %r", host_name, cluster.primary, e)
            failing = repr(e)


def _start(system: Any, app_path: str, settings: Settings) -> Any:
    from .supervisor import Supervisor

    supervisor = system.createActor(Supervisor, globalName=SUPERVISOR_NAME)
    reply = system.ask(supervisor, StartSystem(app_path, settings.to_plain()), 120)
    if not isinstance(reply, SystemReady) or reply.topology is None:
        reason = reply.error if isinstance(reply, SystemReady) else "no answer within 120s" if reply is None \
            else f"the supervisor failed on the start request ({type(reply).__name__}); see the system's log"
        raise SystemError_(f"the Encore system on {settings.data_dir} did not start: {reason}")
    return supervisor


def _serve_metrics(system: Any, supervisor: Any, port: int) -> None:
    """Prometheus metrics on 127.0.0.1:port; each scrape asks the supervisor (from the scrape's
    own thread, through an endpoint of its own)."""
    from actors.protocol.messages import StatusReport, StatusRequest

    from .metrics import serve

    def ask_status() -> dict[str, Any]:
        with system.private() as endpoint:
            reply = endpoint.ask(supervisor, StatusRequest("metrics"), 10)
        return reply.status if isinstance(reply, StatusReport) else {}

    serve(port, ask_status)
    log.info("metrics on http://127.0.0.1:%d/metrics", port)


def _stop(system: Any, supervisor: Any) -> dict[str, Any]:
    reply = system.ask(supervisor, Shutdown(), 60)
    return reply.report if isinstance(reply, Stopped) else {"error": "no shutdown report within 60s"}


def _write_stop_report(log_dir: Path, report: dict[str, Any]) -> None:
    """What the last stop did, for `encore stop` to say (it runs in another process)."""
    try:
        (log_dir / STOP_REPORT).write_text(json.dumps({**report, "stopped_at": time.time()}))
    except OSError as e:  # a full disk: the log says so; `encore stop` then reports no report
        log.error("could not write the stop report %s: %s", log_dir / STOP_REPORT, e)


def read_stop_report(data_dir: Path, since: float) -> dict[str, Any] | None:
    """The report of a stop that ended after `since`, or None."""
    try:
        report = json.loads((Path(data_dir) / "logs" / STOP_REPORT).read_text())
    except (OSError, ValueError):
        return None
    return report if report.get("stopped_at", 0) >= since else None


def _write_state(settings: Settings, port: int, host: str, app_path: str, log_dir: Path, app_dir: str,
                 frame_key: str | None) -> None:
    state = {"pid": os.getpid(), "port": port, "host": host, "app": app_path, "app_dir": app_dir,
             "frame_key_file": str(Path(frame_key).resolve()) if frame_key else None,
             "started": time.time(), "log_dir": str(log_dir), "data_dir": str(settings.data_dir),
             "settings": settings.to_plain()}
    temporary = state_path(settings.data_dir).with_suffix(".tmp")
    temporary.write_text(json.dumps(state, indent=2))
    temporary.replace(state_path(settings.data_dir))


def secure(host: str | None, *, allow_remote: bool, frame_key: str | None) -> str:
    """Bind this process's listeners to `host` (loopback unless allowed otherwise) and, with a
    frame key, authenticate every frame; off loopback a frame key is required."""
    if frame_key is None and host is not None and not loopback.is_loopback(host):
        raise ConfigError(f"listening on {host} needs a frame key (--frame-key FILE, made with `encore key`): "
                          f"without one, anyone who reaches {host} can run code as this user")
    host = loopback.install(host, allow_remote=allow_remote)
    if frame_key is not None:
        framing.install(frame_key)
    return host


# ---------------------------------------------------------------- attaching


def connect(data_dir: Path, *, timeout: float = 10.0) -> tuple[Any, Any, Topology]:
    """A client endpoint, the supervisor and the topology of the system running on `data_dir`.
    Never starts a system: it checks that one answers first."""
    state = running_state(data_dir)
    loopback.install(state.get("host"), allow_remote=True)  # the operator chose it at start
    if state.get("frame_key_file"):   # its frames are authenticated: so are this client's
        framing.install(state["frame_key_file"])
    system = _actor_system(state["port"])
    from .supervisor import Supervisor

    supervisor = system.createActor(Supervisor, globalName=SUPERVISOR_NAME)
    topology = system.ask(supervisor, GetTopology(), timeout)
    if not isinstance(topology, Topology):
        raise NoSystemRunning(f"the Encore system for {data_dir} did not answer within {timeout}s")
    return system, supervisor, topology


LOCK_RELEASE_WAIT_S = 15.0


def request_stop(data_dir: Path, *, timeout: float = 90.0) -> dict[str, Any]:
    """Ask the owner process of the system on `data_dir` to stop; wait until it has exited."""
    state = running_state(data_dir)
    asked = time.time()
    os.kill(state["pid"], signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(state["pid"]) and time.monotonic() < deadline:
        time.sleep(0.1)  # polling another process's exit: there is no reply to wait on
    if pid_alive(state["pid"]):
        raise SystemError_(f"the Encore system (pid {state['pid']}) did not stop within {timeout}s")
    return {**state, "report": read_stop_report(data_dir, asked), "processes_left": _lock_held(data_dir)}


def _lock_held(data_dir: Path, wait_s: float = LOCK_RELEASE_WAIT_S) -> bool:
    """Whether some process (an actor that outlived its owner) still holds the directory's lock
    after `wait_s`: actor processes finish exiting a moment after their owner."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            os.close(lock_data_dir(data_dir))
            return False
        except SystemAlreadyRunning:
            if time.monotonic() >= deadline:
                return True
        time.sleep(0.1)  # waiting on other processes' exit: there is no reply to wait on
