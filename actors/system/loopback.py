"""Keeps every Thespian listener on loopback unless the operator explicitly asks otherwise.

Thespian's TCP transport binds each listener (the Admin's, every actor's, and the reply endpoint
of each client) to 0.0.0.0 and unpickles whatever reaches it. Importing this module before any
ActorSystem is created makes every address of this process, and of the actor processes forked
from it, bind to ENCORE_BIND_HOST (default 127.0.0.1) and advertise that address.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Any

from actors.errors import ConfigError

from . import frames

LOOPBACK = "127.0.0.1"


def bind_host() -> str:
    return os.environ.get("ENCORE_BIND_HOST", LOOPBACK)


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def install(host: str | None = None, *, allow_remote: bool = False) -> str:
    """Bind every Thespian listener of this process (and its forks) to `host`."""
    host = host or bind_host()
    if not is_loopback(host) and not allow_remote:
        raise ConfigError(
            f"refusing to listen on {host}: Thespian unpickles whatever reaches its ports, so anyone "
            f"who can reach {host} can run code as this user; pass --allow-remote (and firewall it) "
            f"only on a network you trust"
        )
    os.environ["ENCORE_BIND_HOST"] = host
    os.environ["THESPIAN_BASE_IPADDR"] = host
    _patch_thespian(host)
    frames.install()  # malformed frames close their connection, never the process
    return host


def _patch_thespian(host: str) -> None:
    from thespian.system.transport import IPBase

    original = IPBase.IPActorAddress.__init__
    if getattr(original, "encore_patched", False):
        IPBase.IPActorAddress.encore_host = host
        return

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if self.bindname[0] in ("", "0.0.0.0"):
            self.bindname = (IPBase.IPActorAddress.encore_host, self.bindname[1])

    init.encore_patched = True  # type: ignore[attr-defined]
    IPBase.IPActorAddress.encore_host = host
    IPBase.IPActorAddress.__init__ = init
    IPBase.thisSystem.add_local_addr(host)
