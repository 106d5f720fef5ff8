"""The system a run drives: launched for the run (bin/encore start in a temporary directory, the
default), an existing one (--attach DIR), or in-process (--embedded)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from actors.client import Encore
from actors.errors import ConfigError

from .workload import Workload

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Target:
    mode: str            # "multiproc" or "embedded"
    data_dir: Path
    client: Encore       # the simulator's own client (verification, status; the embedded driver)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def encore_cli(*args: str) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bin" / "encore"), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise ConfigError(f"bin/encore {args[0]} failed: {(done.stderr or done.stdout).strip()}")


@contextmanager
def launched(workload: Workload, shards: int | None, keep: Path | None) -> Iterator[Path]:
    """A system started for this run with the workload's app; stopped (and removed) at the end."""
    with launched_app(workload.app_path, shards, keep, prefix=workload.name) as data:
        yield data


@contextmanager
def launched_app(app_path: str, shards: int | None = None, keep: Path | None = None,
                 prefix: str = "app") -> Iterator[Path]:
    """A system of `app_path` started in a temporary directory; stopped (and removed) at the end."""
    base = keep or Path(tempfile.mkdtemp(prefix=f"loadsim-{prefix}-"))
    data = base / "data"
    encore_cli("start", "--data", str(data), "--app", app_path, "--port", str(free_port()),
               *(("--shards", str(shards)) if shards else ()))
    try:
        yield data
    finally:
        try:
            encore_cli("stop", "--data", str(data))
        finally:
            if keep is None:
                shutil.rmtree(base, ignore_errors=True)


@contextmanager
def embedded(workload: Workload, shards: int | None, keep: Path | None) -> Iterator[Target]:
    base = keep or Path(tempfile.mkdtemp(prefix=f"loadsim-{workload.name}-"))
    data = base / "data"
    try:
        with Encore.embedded(workload.app, data_dir=data, **({"shards": shards} if shards else {})) as client:
            yield Target("embedded", data, client)
    finally:
        if keep is None:
            shutil.rmtree(base, ignore_errors=True)


@contextmanager
def attached(data: Path, workload: Workload) -> Iterator[Target]:
    with Encore.attach(data) as client:
        missing = set(workload.app.commands) - set(client.app.commands if client.app else ())
        if missing:
            raise ConfigError(f"the system on {data} runs app {client.topology.app_path}, which lacks "
                              f"{', '.join(sorted(missing))}; start it with --app {workload.app_path}")
        yield Target("multiproc", data, client)
