"""`bin/encore`: start, run, stop and inspect a system; send commands and queries to it.

Exit codes: 0 success (command accepted), 1 rejected by the domain, 2 invalid input, no system or
any other error. Every error says what was wrong and what to do.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from actors.clients.fields import parse_fields
from actors.errors import (
    ConfigError,
    EncoreError,
    NoSystemRunning,
    SystemAlreadyRunning,
    SystemError_,
    ValidationFailed,
)
from actors.model.app import load_app
from actors.process.settings import Settings
from actors.protocol.metadata import command_meta
from actors.protocol.status import problems
from actors.protocol.wire import MAX_POSITION
from actors.system import launch as system
from actors.system.cluster import init as init_cluster
from actors.system.cluster import load as load_cluster
from actors.system.framing import read_key, write_key
from actors.system.loopback import is_loopback
from storage import StoredEvent, open_store

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_APP = "examples.all:app"
MAX_TIMEOUT_S = 3600.0
MAX_EVENTS = 1_000_000   # what one `encore events` prints at most (use --follow for more)
DEFAULT_HTTP_PORT = 8480


def main(argv: list[str] | None = None) -> int:
    """Run one `encore` command; its exit code. No error leaves as a traceback: each is one line
    on stderr (and a JSON object on stdout with --json), exit 2."""
    args = _parser().parse_args(argv)
    try:
        if hasattr(args, "data"):
            _check_data_dir(args)
        code: int = args.handler(args)
        return code
    except EncoreError as e:
        _fail(args, str(e), kind=type(e).__name__)
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # a bug or an environment failure: still one line, and where to look
        _fail(args, f"unexpected {type(e).__name__}: {e}; this is a bug in Encore or its environment, "
                    f"the system's own logs are in <data>/logs", kind=type(e).__name__)
    return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="encore", description="Run and use an Encore system.")
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument("--data", type=Path, default=Path(os.environ.get("ENCORE_DATA", "./data")),
                      help="data directory; it names the system (default ./data or $ENCORE_DATA)")
    data.add_argument("--json", action="store_true", help="print JSON")
    data.add_argument("--cluster", type=Path, default=None, metavar="FILE",
                      help="a cluster file: start its --host; clients reach its primary over the network")
    data.add_argument("--host", default=None, metavar="NAME",
                      help="with --cluster: this host (start), or the host to ask")
    sub = parser.add_subparsers(dest="command", required=True)
    launch = argparse.ArgumentParser(add_help=False, parents=[data])
    launch.add_argument("--app", default=DEFAULT_APP, help=f"app import path (default {DEFAULT_APP})")
    launch.add_argument("--app-dir", default=os.environ.get("ENCORE_APP_DIR"), metavar="DIR",
                        help="the folder the app is imported from (default: $ENCORE_APP_DIR, else the current one)")
    launch.add_argument("--shards", type=_count(1, 64, "shard processes"), default=None,
                        help="shard processes, 1 to 64 (default: half the CPUs, 1 to 8)")
    launch.add_argument("--follower-groups", choices=("replica", "each"), default=None,
                        help="processes for views and reactors: one per replica index hosting them all "
                             "(replica, the default) or one per follower (each)")
    launch.add_argument("--port", type=_port, default=system.DEFAULT_PORT, help="Thespian Admin port")
    launch.add_argument("--allow-remote", metavar="HOST", default=None,
                        help="listen on HOST beyond loopback (needs --frame-key): only on a network you trust")
    launch.add_argument("--frame-key", metavar="FILE", default=os.environ.get("ENCORE_FRAME_KEY_FILE"),
                        help="authenticate every frame with the key in FILE (made by `encore key`; "
                             "default $ENCORE_FRAME_KEY_FILE); required off loopback")
    launch.add_argument("--metrics-port", type=_port, default=None, metavar="P",
                        help="serve Prometheus metrics on 127.0.0.1:P")
    launch.add_argument("--log-format", choices=system.LOG_FORMATS, default="plain",
                        help="plain lines, or one JSON object per line (time, level, actor, pid, message)")
    cluster = sub.add_parser("cluster", help="a cluster of hosts").add_subparsers(dest="action", required=True)
    init = cluster.add_parser("init", help="write a cluster file and its key")
    init.add_argument("--host", dest="hosts", action="append", required=True, metavar="NAME=ADDRESS",
                      help="a host (repeat; the first holds the primary copy, the second its standby)")
    init.add_argument("--out", required=True, type=Path, metavar="FILE")
    init.add_argument("--port", type=_port, default=19500, help="every host's Admin port (default 19500)")
    init.set_defaults(handler=cmd_cluster_init)
    sub.add_parser("hosts", parents=[data], help="every host of --cluster FILE: role, epoch, head, what it lacks") \
        .set_defaults(handler=cmd_hosts)
    promote = sub.add_parser("promote", parents=[data], help="make --host (a standby) the primary: --cluster FILE")
    promote.add_argument("--alone", action="store_true",
                         help="acknowledge on its copy alone until a standby registers (no copy survives its loss "
                              "until then)")
    promote.set_defaults(handler=cmd_promote)
    key = sub.add_parser("key", help="write a new random frame key (mode 600) for --frame-key")
    key.add_argument("--out", required=True, type=Path, metavar="FILE", help="where to write it (never replaced)")
    key.set_defaults(handler=cmd_key)
    for name, handler, text in (("start", cmd_start, "launch the system in the background"),
                                ("run", cmd_run, "run the system in the foreground (Ctrl-C stops it)")):
        sub.add_parser(name, parents=[launch], help=text).set_defaults(handler=handler)
    sub.add_parser("stop", parents=[data], help="stop the system gracefully").set_defaults(handler=cmd_stop)
    sub.add_parser("status", parents=[data], help="actors, pids, counters, lag").set_defaults(handler=cmd_status)
    for name, handler, text in (("send", cmd_send, "send one command"), ("query", cmd_query, "ask one query")):
        p = sub.add_parser(name, parents=[data], help=text)
        p.add_argument("type", help="command or query type, e.g. Deposit")
        p.add_argument("fields", nargs="*", help="field=value (text for text fields, else JSON when it parses)")
        p.add_argument("--fields", dest="fields_json", metavar="JSON", help="fields as a JSON object (nested ones too)")
        p.add_argument("--timeout", type=_seconds, default=10.0, help="seconds to wait for the answer (max 3600)")
        if name == "query":
            p.add_argument("--after", type=_offset, default=0, help="read-your-writes: wait for this log position")
        else:
            p.add_argument("--id", dest="command_id", default=None, help="command id (retries reuse it)")
            p.add_argument("--correlation-id", default=None, help="shared by the events it sets off (default: its id)")
            p.add_argument("--meta", action="append", default=[], metavar="NAME=VALUE",
                           help="a header its events carry, e.g. --meta user=ann (repeatable)")
        p.set_defaults(handler=handler)
    restart = sub.add_parser("restart", parents=[data], help="restart a down actor now (name as status shows it)")
    restart.add_argument("name", help="e.g. shard-0 or balances-0")
    restart.set_defaults(handler=cmd_restart)
    events = sub.add_parser("events", parents=[data], help="print the log or one stream")
    events.add_argument("--stream", help="TYPE:ID, e.g. account:a1")
    events.add_argument("--after", type=_offset, default=0, help="after this offset (stream version with --stream)")
    events.add_argument("--limit", type=_count(1, MAX_EVENTS, "events"), default=100,
                        help=f"at most this many events (1 to {MAX_EVENTS})")
    events.add_argument("--type", action="append", dest="types", metavar="EVENT_TYPE",
                        help="only events of this type (repeatable; with --follow)")
    events.add_argument("--raw", action="store_true",
                        help="as stored (schema version and data as written), not as the current code reads them")
    events.add_argument("--app-dir", default=None, metavar="DIR",
                        help="the folder --app is imported from (default: the running system's, else the current one)")
    events.add_argument("--app", default=None, metavar="MODULE:ATTR",
                        help="the app whose code reads the events (default: the running system's)")
    events.add_argument("--follow", action="store_true",
                        help="keep printing new events as they are committed, from the running system (Ctrl-C ends)")
    events.set_defaults(handler=cmd_events)
    state = sub.add_parser("state", parents=[data], help="an aggregate's state at a version (time travel)")
    state.add_argument("stream", help="TYPE:ID, e.g. account:a1")
    state.add_argument("--version", type=_offset, default=None, help="the version (default: the latest)")
    state.set_defaults(handler=cmd_state)
    top = sub.add_parser("top", parents=[data], help="a live console of the running system (q or Ctrl-C quits)")
    top.add_argument("--interval", type=_seconds, default=1.0, help="seconds between refreshes (default 1)")
    top.add_argument("--frames", type=_count(1, 10**9, "refreshes"), default=None,
                     help="stop after this many refreshes")
    top.set_defaults(handler=cmd_top)
    sub.add_parser("followers", parents=[data], help="each view replica and reactor: state, checkpoint, lag, "
                   "errors").set_defaults(handler=cmd_followers)
    for action, text in (("pause", "pause a view replica (it keeps answering)"), ("resume", "resume a paused one"),
                         ("rebuild", "rebuild a view replica from the log while it answers")):
        control = sub.add_parser(action, parents=[data], help=text)
        control.add_argument("name", help="e.g. balances-0")
        control.set_defaults(handler=cmd_control, action=action)
    skip = sub.add_parser("skip", parents=[data], help="make a failed view ignore the event it failed on")
    skip.add_argument("name", help="e.g. balances-0")
    skip.add_argument("offset", type=_offset, help="the offset of the event it failed on")
    skip.set_defaults(handler=cmd_control, action="skip")
    sub.add_parser("parked", parents=[data], help="reactors' parked events and why").set_defaults(handler=cmd_parked)
    retry = sub.add_parser("retry", parents=[data], help="try a reactor's parked events again")
    retry.add_argument("reactor", help="the reactor's name")
    retry.add_argument("--offset", type=_offset, default=None, help="only the event at this offset")
    retry.set_defaults(handler=cmd_retry)
    http = sub.add_parser("http", parents=[data], help="serve the running system over HTTP/JSON (Ctrl-C stops)")
    http.add_argument("--port", type=_port, default=DEFAULT_HTTP_PORT, help=f"HTTP port (default {DEFAULT_HTTP_PORT})")
    http.add_argument("--allow-remote", metavar="HOST", default=None,
                      help="listen on HOST beyond loopback: the door has no authentication of its own")
    http.add_argument("--max-requests", type=_count(1, 100_000, "requests"), default=1024,
                      help="requests in flight at once; beyond, 503 with Retry-After (default 1024)")
    http.add_argument("--max-streams", type=_count(1, 10_000, "event streams"), default=100,
                      help="GET /events streams open at once; beyond, 503 with Retry-After (default 100)")
    http.set_defaults(handler=cmd_http)
    return parser


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= MAX_TIMEOUT_S:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"{text} must be more than 0 and at most {MAX_TIMEOUT_S:.0f} seconds")
    return value


def _offset(text: str) -> int:
    value = _integer(text, "a log position")
    if not 0 <= value <= MAX_POSITION:
        raise argparse.ArgumentTypeError(f"{text} is not a log position: give an integer from 0 to {MAX_POSITION}")
    return value


def _count(low: int, high: int, what: str) -> Any:
    """An argparse type: an integer from `low` to `high` (a number of `what`)."""
    def count(text: str) -> int:
        value = _integer(text, f"a number of {what}")
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} {what} is out of range: give an integer from {low} to {high}")
        return value
    return count


def _port(text: str) -> int:
    value = _integer(text, "a TCP port")
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a TCP port: give an integer from 1 to 65535")
    return value


def _integer(text: str, what: str) -> int:
    if len(text) > 40 or not text.strip().lstrip("+-").isdigit():
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not {what} (an integer)")
    return int(text)


# ---------------------------------------------------------------- lifecycle


def _check_data_dir(args: argparse.Namespace) -> None:
    """--data names a directory (or nothing yet): a file there, or a parent that is not a
    directory, is refused at once."""
    path = args.data
    if path.exists() and not path.is_dir():
        raise ValidationFailed(f"--data {path} is a file, not a directory: give a directory (created if missing)")
    for parent in path.resolve().parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValidationFailed(f"--data {path}: {parent} is a file, not a directory")
            return


def _make_data_dir(path: Path) -> None:
    """Create the data directory, or say in one line why it cannot be used."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValidationFailed(f"--data {path} cannot be created ({e.strerror}): give a directory this user "
                               f"can write") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ValidationFailed(f"--data {path} is not writable by this user: give a directory it can write, "
                               f"or change its permissions")


def _settings(args: argparse.Namespace) -> Settings:
    cluster = {"cluster_role": args.cluster_role, "ack": args.ack, "cluster_host": args.host} \
        if getattr(args, "cluster_role", None) else {}
    return Settings.from_env(data_dir=args.data.resolve(), shards=args.shards, follower_groups=args.follower_groups,
                             **cluster)


def cmd_key(args: argparse.Namespace) -> int:
    path = write_key(args.out)
    print(f"wrote a frame key to {path} (mode 600): give it to every host and client with --frame-key")
    return 0


def _take_cluster(args: argparse.Namespace) -> None:
    """`--cluster FILE --host NAME`: the host's address, port and the cluster's frame key."""
    if args.cluster is None:
        return
    if not args.host:
        raise ConfigError("--cluster needs --host NAME: which of the cluster's hosts this is")
    cluster = load_cluster(args.cluster)
    host = cluster.host(args.host)
    args.allow_remote, args.port, args.frame_key = host.address, host.port, str(cluster.key_file)
    args.shards, args.cluster_role, args.ack = 1, cluster.role_of(args.host), cluster.ack


def cmd_hosts(args: argparse.Namespace) -> int:
    if args.cluster is None:
        raise ConfigError("hosts needs --cluster FILE")
    from actors.system.remote import hosts_status

    rows = hosts_status(load_cluster(args.cluster))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        if not row["reachable"]:
            print(f"  {row['host']:8} {row['address']:22} DOWN (no answer)")
            continue
        lacks = ", ".join(f"{h} lacks {n}" for h, n in (row.get("unshipped") or {}).items())
        fenced = "  FENCED: " + row["fenced"] if row.get("fenced") else ""
        print(f"  {row['host']:8} {row['address']:22} {row.get('role') or '-':8} epoch {row.get('epoch')} "
              f"head {row.get('head')}  {lacks}{fenced}")
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    """Manual failover: the standby --host takes commands from now on, at a new epoch; its old
    primary can never have another command acknowledged."""
    if args.cluster is None or not args.host:
        raise ConfigError("promote needs --cluster FILE and --host NAME (the standby to promote)")
    from actors.protocol.messages import Promote, PromoteAnswer
    from actors.system.remote import connect_cluster

    system_, supervisor, _ = connect_cluster(load_cluster(args.cluster), args.host)
    answer = system_.ask(supervisor, Promote(alone=args.alone), 30)
    if not isinstance(answer, PromoteAnswer):
        raise SystemError_(f"host {args.host} did not answer the promotion within 30s; ask again")
    _print(args, {"promoted": answer.promoted, "message": answer.message, "epoch": answer.epoch}) if args.json \
        else print(f"{args.host}: {answer.message}")
    return 0 if answer.promoted else 2


def cmd_cluster_init(args: argparse.Namespace) -> int:
    hosts = []
    for spec in args.hosts:
        name, equals, address = spec.partition("=")
        if not equals or not name:
            raise ConfigError(f"--host {spec!r}: give NAME=ADDRESS, e.g. --host h1=10.0.0.1")
        hosts.append((name, address))
    out = init_cluster(hosts, args.out, port=args.port)
    print(f"wrote {out} and its key {out.with_suffix('.key')} (mode 600): copy both to every host")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    _take_cluster(args)
    settings = _settings(args)
    _make_data_dir(settings.data_dir)
    app_dir = str(Path(args.app_dir or os.getcwd()).resolve())
    load_app(args.app, app_dir)   # here first: an app that cannot be imported is said in one line, at once
    _warn_remote(args)
    report = system.run(args.app, settings, port=args.port, host=args.allow_remote,
                        allow_remote=bool(args.allow_remote), metrics_port=args.metrics_port,
                        log_format=args.log_format, app_dir=app_dir, frame_key=args.frame_key,
                        cluster=load_cluster(args.cluster) if args.cluster else None)
    print(f"stopped: flushed {len(report.get('flushed', []))} actors, stopped {len(report.get('stopped', []))}")
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    _take_cluster(args)
    settings = _settings(args)
    _warn_remote(args)
    _make_data_dir(settings.data_dir)
    system.check_can_start(settings, args.port)
    if args.metrics_port is not None:
        _check_port_free("127.0.0.1", args.metrics_port)
    log_dir = settings.data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "actors.ops.cli", "run", "--data", str(settings.data_dir),
               "--app", args.app, "--app-dir", str(Path(args.app_dir or os.getcwd()).resolve()),
               "--port", str(args.port)]
    if args.shards:
        command += ["--shards", str(args.shards)]
    if args.follower_groups:
        command += ["--follower-groups", args.follower_groups]
    if args.allow_remote:
        command += ["--allow-remote", args.allow_remote]
    if args.cluster:
        command += ["--cluster", str(args.cluster.resolve()), "--host", args.host]
    elif args.frame_key:
        command += ["--frame-key", str(Path(args.frame_key).resolve())]
    if args.metrics_port is not None:
        command += ["--metrics-port", str(args.metrics_port)]
    command += ["--log-format", args.log_format]
    with open(log_dir / "launcher.log", "ab") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True, env=_child_env())
    state = _wait_started(settings.data_dir, child, log_dir)
    if args.json:
        print(json.dumps({"pid": state["pid"], "port": state["port"], "logs": state["log_dir"]}))
    else:
        print(f"Encore is running: pid {state['pid']}, port {state['port']}, data {settings.data_dir}, "
              f"logs {state['log_dir']}")
    return 0


def _child_env() -> dict[str, str]:
    """The launcher's environment, with the current directory and Encore's own on the import
    path: the app named by --app imports in the system as it does here."""
    paths = [os.getcwd(), str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}


_DISK_FULL = ("No space left", "File too large", "Disk quota exceeded")


def _start_failure(launcher_log: Path) -> str:
    """Why the launcher exited, from its log: its own one-line error when it wrote one (not the
    tracebacks of processes that died with it), and plainly "disk full" when that is the cause."""
    text = launcher_log.read_text(errors="replace") if launcher_log.exists() else ""
    said = [line for line in text.splitlines() if line.startswith("encore: ")]
    if said:
        return "the system failed to start: " + said[-1].removeprefix("encore: ")
    if any(mark in text for mark in _DISK_FULL) or not text:
        return (f"the system failed to start: the disk holding {launcher_log.parent} is full or refuses to "
                f"grow files (even its log could not be written whole); free space and start again")
    tail = text.strip().splitlines()[-5:]
    return "the system failed to start:\n  " + "\n  ".join(tail) + f"\n(whole log: {launcher_log})"


def _wait_started(data_dir: Path, child: subprocess.Popen[bytes], log_dir: Path,
                  timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise SystemError_(_start_failure(log_dir / "launcher.log"))
        state = system.read_state(data_dir)
        if state and state.get("pid") == child.pid:
            return state
        time.sleep(0.1)  # waiting on another process to write its state file
    child.terminate()
    raise SystemError_(f"the system did not start within {timeout}s; see {log_dir}")


def _warn_remote(args: argparse.Namespace) -> None:
    """Check the frame key (and that there is one off loopback) before anything starts."""
    if args.frame_key:
        read_key(args.frame_key)
    elif args.allow_remote and not is_loopback(args.allow_remote):
        raise ConfigError(f"listening on {args.allow_remote} needs a frame key (--frame-key FILE, made with "
                          f"`encore key --out FILE`): without one, anyone who reaches it can run code as this user")
    if args.allow_remote:
        print(f"WARNING: listening on {args.allow_remote}: every frame is authenticated with the frame key, but "
              f"put the hosts on a network you control (WireGuard between them, a firewall for the ports).",
              file=sys.stderr)


def cmd_http(args: argparse.Namespace) -> int:
    """Serve the system on --data over HTTP in the foreground, until Ctrl-C or SIGTERM."""
    import uvicorn

    from actors.clients.http_door import attached

    host = args.allow_remote or "127.0.0.1"
    _check_port_free(host, args.port)
    data = args.data.resolve()
    if not (data / "system.json").exists():
        raise NoSystemRunning(f"no system is running on {data}; start one with `encore start --data {data}`")
    state = system.running_state(data)
    load_app(state["app"], state.get("app_dir"))   # here first: an app that cannot be loaded is said in one line
    if args.allow_remote:
        print(f"WARNING: serving HTTP on {host} without authentication: anyone who can reach it can send commands.",
              file=sys.stderr)
    print(f"encore http: serving the system on {data} at http://{host}:{args.port}", flush=True)
    door = attached(data, max_requests=args.max_requests, max_streams=args.max_streams)
    uvicorn.run(door, host=host, port=args.port, log_level="warning", access_log=False)
    return 0


def _check_port_free(host: str, port: int) -> None:
    if not 0 < port < 65536:
        raise ValidationFailed(f"--port {port} is not a TCP port (1 to 65535)")
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as e:
            raise SystemAlreadyRunning(f"cannot listen on {host}:{port} ({e.strerror}); choose "
                                              f"another port") from None


def cmd_stop(args: argparse.Namespace) -> int:
    state = system.request_stop(args.data.resolve())
    report, problems = state["report"] or {}, stop_problems(state)
    if args.json:
        print(json.dumps({"stopped": not problems, "pid": state["pid"], "report": report, "problems": problems}))
    else:
        what = f"{len(report.get('flushed', []))} actors flushed, {len(report.get('stopped', []))} stopped"
        print(f"stopped the Encore system of {args.data} (pid {state['pid']}, port {state['port']}): {what}")
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
    return 2 if problems else 0


def stop_problems(state: dict[str, Any]) -> list[str]:
    """What went wrong in a stop, as `encore stop` reports it (nothing when it went cleanly)."""
    report, problems = state.get("report"), []
    if report is None:
        problems.append("the system wrote no stop report (a full disk?): views may not be saved; see its logs")
    else:
        if report.get("error"):
            problems.append(f"the stop failed: {report['error']}")
        if report.get("not_flushed"):
            names = ", ".join(report["not_flushed"])
            problems.append(f"not flushed (their views resume from an older snapshot): {names}")
        if report.get("down_before_stop"):
            problems.append(f"already down when the stop began: {', '.join(report['down_before_stop'])}")
    if state.get("processes_left"):
        problems.append("processes of the system still run (they hold system.lock); `encore status` lists them")
    return problems


# ---------------------------------------------------------------- using it


def _client(args: argparse.Namespace) -> Any:
    from actors.clients.sync_client import Encore

    if args.cluster is not None:
        return Encore.attach(cluster=args.cluster, host=args.host)
    return Encore.attach(args.data.resolve())


def cmd_status(args: argparse.Namespace) -> int:
    with _client(args) as client:
        status = client.status()
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    print(f"head offset {status['head_offset']}, uptime {status['uptime_s']:.0f}s, app {status['app']}, "
          f"system {status.get('system_id') or '?'}")
    for a in status["actors"]:
        extra = ""
        if a["role"] == "shard":
            extra = f"live {a.get('live_aggregates')} commands {a.get('commands')} batches {a.get('batches')}"
        elif a["role"] == "group":
            extra = f"hosts {', '.join(a.get('followers') or ())}"
        elif a["role"] == "projection":
            extra = f"checkpoint {a.get('checkpoint')} lag {a.get('lag')}"
        elif a["role"] == "reactor":
            extra = (f"checkpoint {a.get('checkpoint')} lag {a.get('lag')} sent {a.get('sent')} "
                     f"deadlines {a.get('pending_deadlines')} parked {len(a.get('parked') or ())}")
        print(f"  {a['role']:11} {a['name']:20} pid {a.get('pid')!s:8} restarts {a.get('restarts', 0)}  {extra}")
        for problem in problems(a):
            print(f"      {problem}")
    return 0


def cmd_top(args: argparse.Namespace) -> int:
    from .top import run_top

    with _client(args) as client:
        return run_top(client, interval=args.interval, frames=args.frames)


def cmd_followers(args: argparse.Namespace) -> int:
    with _client(args) as client:
        followers = client.followers()
    if args.json:
        print(json.dumps(followers, indent=2))
        return 0
    for f in followers:
        print(f"  {f['name']:20} {f['role']:10} {f['state'] or ('running' if f['running'] else 'down'):10} "
              f"checkpoint {f['checkpoint']} lag {f['lag']} events/s {f['events_per_s']}")
        for key in ("failure", "skips", "parked", "last_error"):
            if f.get(key):
                print(f"      {key}: {f[key]}")
    return 0


def cmd_control(args: argparse.Namespace) -> int:
    with _client(args) as client:
        message = client.skip(args.name, args.offset) if args.action == "skip" else \
            getattr(client, args.action)(args.name)
    _print(args, {"name": args.name, "message": message}) if args.json else print(message)
    return 0


def cmd_state(args: argparse.Namespace) -> int:
    with _client(args) as client:
        found = client.aggregate_state(args.stream, args.version)
    _print(args, found)
    return 0


def cmd_parked(args: argparse.Namespace) -> int:
    with _client(args) as client:
        parked = client.parked()
    if args.json:
        print(json.dumps(parked, indent=2))
    elif not parked:
        print("no parked events")
    for p in [] if args.json else parked:
        print(f"{p['reactor']:16} offset {p['offset']:<8} {p['kind']:7} after {p['attempts']} tries: {p['error']}")
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    with _client(args) as client:
        message = client.retry_parked(args.reactor, args.offset)
    _print(args, {"reactor": args.reactor, "message": message}) if args.json else print(f"{args.reactor}: {message}")
    return 0


def cmd_restart(args: argparse.Namespace) -> int:
    with _client(args) as client:
        message = client.restart(args.name)
    _print(args, {"restarted": args.name, "message": message}) if args.json else print(f"{args.name}: {message}")
    return 0


def cmd_send(args: argparse.Namespace) -> int:
    meta = {"correlation_id": args.correlation_id, "metadata": _headers(args.meta)}
    command_meta(**meta)   # bad meta is refused before anything is sent
    with _client(args) as client:
        model = client.app.commands.get(args.type, (None,))[0] if client.app else None
        fields = parse_fields(args.fields, model, fields_json=args.fields_json)
        try:
            result = client.ask_raw(args.type, fields, command_id=args.command_id, timeout=args.timeout, **meta)
        except ValidationFailed as e:
            _print(args, {"status": "invalid", "code": "invalid", "message": str(e), "errors": e.errors})
            return 2
    _print(args, result_fields(result))
    return {"accepted": 0, "rejected": 1}.get(result.status, 2)  # invalid or failed in the system: 2


def result_fields(result: Any) -> dict[str, Any]:
    """A command result as printed: every field that has a value (0 and False are values)."""
    return {k: v for k, v in vars(result).items() if v is not None}


def cmd_query(args: argparse.Namespace) -> int:
    with _client(args) as client:
        model = client.app.queries.get(args.type, (None,))[0] if client.app else None
        fields = parse_fields(args.fields, model, fields_json=args.fields_json)
        answer = client.query_raw(args.type, fields, after=args.after, timeout=args.timeout)
    _print(args, answer)
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    if args.follow:
        return _follow_events(args)
    store_dir = args.data.resolve() / "store"
    if not (store_dir / "data.mdb").exists():
        raise NoSystemRunning(f"{args.data} holds no Encore store; start a system with `bin/encore start`")
    with open_store(store_dir) as store:
        if args.stream:
            events = store.read_stream(args.stream, after_version=args.after, limit=args.limit)
        else:
            events = store.read_log(after=args.after, limit=args.limit)
    reader = _event_reader(args)
    for e in events:
        if not args.types or e.type in args.types:
            _print_event(args, reader(e))
    return 0


def _event_reader(args: argparse.Namespace) -> Any:
    """How events are shown: as the app's code reads them now (upcasters applied: the data is the
    event's fields, the schema version the current one), or as stored with --raw or no app."""
    if args.raw:
        return lambda e: e
    state = system.read_state(args.data.resolve()) or {}
    path = args.app or state.get("app")
    if not path:
        return lambda e: e
    return load_app(path, args.app_dir or (None if args.app else state.get("app_dir"))).as_read_now


def _follow_events(args: argparse.Namespace) -> int:
    """A subscription through the running system: the stored events, then each as it commits.
    With --stream, --after is a version of that stream; otherwise a log offset."""
    streams = [args.stream] if args.stream else None
    with _client(args) as client:
        for e in client.subscribe(0 if args.stream else args.after, streams=streams, types=args.types, raw=args.raw):
            if args.stream and e.version <= args.after:
                continue
            _print_event(args, e)
            sys.stdout.flush()
    return 0


def _headers(pairs: list[str]) -> dict[str, str]:
    """--meta NAME=VALUE options as a map (the names and values are checked with the command)."""
    headers = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals:
            raise ValidationFailed(f"--meta {pair!r}: give NAME=VALUE, e.g. --meta user=ann")
        headers[name] = value
    return headers


def _print_event(args: argparse.Namespace, e: StoredEvent) -> None:
    if args.json:
        print(json.dumps({**e.envelope(), "data": e.data}))
        return
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.time))
    print(f"{e.offset:>8} {e.stream:24} v{e.version:<5} {e.type:18} {json.dumps(e.data)} {stamp}{_meta_text(e)}")


def _meta_text(e: StoredEvent) -> str:
    """The event's meta where it says more than its command id: " corr=... cause=... user=ann"."""
    parts = [f"corr={e.correlation_id}"] if e.correlation_id != e.command_id else []
    parts += [f"cause={e.causation_id}"] if e.causation_id != e.command_id else []
    parts += [f"{name}={value}" for name, value in e.metadata.items()]
    return "".join(f" {part}" for part in parts)


def _print(args: argparse.Namespace, value: Any) -> None:
    print(json.dumps(value, indent=None if args.json else 2, default=str))


def _fail(args: argparse.Namespace, message: str, *, kind: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps({"status": "invalid" if kind == "ValidationFailed" else "error", "error": kind,
                          "message": message}))
    print(f"encore: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
