"""The cluster file: the same TOML on every host. It names the hosts (address and Admin port),
which host holds the log's primary copy and which its standby copies, whether a command waits
for the standbys (`ack = "all"`, the default) and where the frame key is.

    key = "cluster.key"            # relative to this file; 32 random bytes or more, never sent
    ack = "all"                    # or "local": acknowledged on the primary alone (no guarantee 12)

    [hosts.h1]
    address = "10.88.0.1"
    port = 19500

    [hosts.h2]
    address = "10.88.0.2"
    port = 19500

    [log]
    primary = "h1"
    standbys = ["h2"]
"""

from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from actors.errors import ConfigError

from .framing import read_key, write_key

DEFAULT_PORT = 19500


@dataclass(frozen=True)
class ClusterHost:
    name: str
    address: str
    port: int


@dataclass(frozen=True)
class Cluster:
    path: Path
    hosts: dict[str, ClusterHost]
    primary: str
    standbys: tuple[str, ...]
    key_file: Path
    ack: str = "all"

    def host(self, name: str) -> ClusterHost:
        if name not in self.hosts:
            raise ConfigError(f"host {name!r} is not in {self.path}; its hosts are {', '.join(self.hosts)}")
        return self.hosts[name]

    def role_of(self, name: str) -> str:
        """"primary", "standby", or "replica" (a host with neither: it follows nothing yet)."""
        return "primary" if name == self.primary else "standby" if name in self.standbys else "replica"


def load(path: str | Path) -> Cluster:
    """The cluster file at `path`, checked; ConfigError says what is wrong and where."""
    path = Path(path).resolve()
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as e:
        raise ConfigError(f"the cluster file {path} cannot be read ({e.strerror}); write one with "
                          f"`encore cluster init`") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"the cluster file {path} is not TOML: {e}") from None
    hosts = {name: _host(path, name, spec) for name, spec in _table(path, raw, "hosts").items()}
    log = _table(path, raw, "log")
    primary, standbys = log.get("primary"), tuple(log.get("standbys", ()))
    if primary not in hosts:
        raise ConfigError(f"{path}: [log] primary = {primary!r} is not one of the hosts ({', '.join(hosts)})")
    for standby in standbys:
        if standby not in hosts or standby == primary:
            raise ConfigError(f"{path}: standby {standby!r} must be one of the other hosts ({', '.join(hosts)})")
    ack = raw.get("ack", "all")
    if ack not in ("all", "local"):
        raise ConfigError(f"{path}: ack = {ack!r}: give \"all\" (a command waits for every standby) or \"local\"")
    key_file = (path.parent / str(raw.get("key", "cluster.key"))).resolve()
    read_key(key_file)   # here, so a bad key is said before anything starts
    return Cluster(path, hosts, primary, standbys, key_file, ack)


def _table(path: Path, raw: dict[str, Any], name: str) -> dict[str, Any]:
    table = raw.get(name)
    if not isinstance(table, dict) or not table:
        raise ConfigError(f"{path} has no [{name}] table; see `encore cluster init`")
    return table


def _host(path: Path, name: str, spec: Any) -> ClusterHost:
    if not isinstance(spec, dict):
        raise ConfigError(f"{path}: [hosts.{name}] must be a table with address and port")
    address, port = str(spec.get("address")), spec.get("port", DEFAULT_PORT)
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise ConfigError(f"{path}: host {name}'s address {address!r} is not an IP address") from None
    if not isinstance(port, int) or not 1024 <= port <= 65535:
        raise ConfigError(f"{path}: host {name}'s port {port!r} must be 1024 to 65535")
    return ClusterHost(name, address, port)


def init(hosts: list[tuple[str, str]], out: str | Path, *, port: int = DEFAULT_PORT) -> Path:
    """Write a cluster file of `hosts` ((name, address), the first the primary, the second its
    standby) and a new key beside it; refuse to replace either."""
    out = Path(out)
    if out.exists():
        raise ConfigError(f"{out} exists: a cluster file is never replaced by accident; remove it first")
    if len(hosts) < 2:
        raise ConfigError("a cluster needs two hosts or more: give --host NAME=ADDRESS for each")
    key = write_key(out.with_suffix(".key"))
    lines = [f'key = "{key.name}"', 'ack = "all"', ""]
    for name, address in hosts:
        lines += [f"[hosts.{name}]", f'address = "{address}"', f"port = {port}", ""]
    lines += ["[log]", f'primary = "{hosts[0][0]}"', f'standbys = ["{hosts[1][0]}"]', ""]
    out.write_text("\n".join(lines))
    load(out)   # what it wrote reads back
    return out
