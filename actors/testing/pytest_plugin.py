"""Encore's pytest plugin (registered by the package's `pytest11` entry point): the
`encore_system` fixture, a factory of embedded systems on the test's temporary directory.

    def test_a_deposit_shows_in_the_balance(encore_system):
        encore = encore_system(bank.app)
        result = encore.ask(OpenAccount(account_id="a", owner="ann"))
        assert encore.query(GetBalance(account_id="a"), after=result.position)["open"]

Every system it gave is stopped when the test ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from actors.clients.sync_client import Encore
from actors.model.app import App


@pytest.fixture
def encore_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    started: list[Encore] = []

    def start(app: App | str, **settings: Any) -> Encore:
        client = Encore.embedded(app, tmp_path_factory.mktemp("encore") / "data", **settings)
        started.append(client)
        return client

    yield start
    for client in started:
        client.close()
