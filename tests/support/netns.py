"""Separate hosts for the tests (loadsim/netns.py), skipped with the reason where network
namespaces cannot be made."""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from loadsim.netns import Hosts, HostsUnavailable, leftovers
from loadsim.netns import hosts as _hosts

__all__ = ["Hosts", "hosts", "leftovers"]


@contextmanager
def hosts(*names: str) -> Iterator[Hosts]:
    try:
        with _hosts(*names) as made:
            yield made
    except HostsUnavailable as e:
        pytest.skip(str(e))
