"""Follower groups: several followers in one process, reading each page once and decoding each
record once for all of them; planned per replica by default, one per follower when asked."""

import time

import pytest

from actors import App, Projection, Query, answers, applies
from actors.client import Encore
from actors.errors import ConfigError, Unavailable
from actors.followers.group_actor import plan_groups
from actors.followers.pages import SharedPages
from actors.followers.view_fold import ViewFollower
from actors.process.settings import Settings
from examples import bank, shop
from examples.bank import Deposit, GetAuditTrail, GetBalance, OpenAccount
from storage import AppendEntry, MemoryStore, NewEvent
from tests.support.system_helpers import RunningSystem, free_port


def _settings(tmp_path, **overrides):
    return Settings(data_dir=tmp_path, **overrides)


def test_by_default_each_replica_index_is_one_group_with_every_view_and_reactors_go_to_replica_0(tmp_path):
    plans = plan_groups(shop.app, _settings(tmp_path, replicas=2))
    assert [(p.name, p.index) for p in plans] == [("followers", 0), ("followers", 1)]
    assert plans[0].views == plans[1].views == tuple(shop.app.projections)
    assert plans[0].reactors == ("checkout", "welcome") and plans[1].reactors == ()
    assert "balances-1" in plans[1].members and "checkout-0" in plans[0].members


def test_each_gives_every_follower_a_group_of_its_own(tmp_path):
    plans = plan_groups(shop.app, _settings(tmp_path, replicas=2, follower_groups="each"))
    assert len(plans) == 2 * len(shop.app.projections) + len(shop.app.reactors)
    assert all(len(p.views) + len(p.reactors) == 1 for p in plans)
    assert len({(p.name, p.index) for p in plans}) == len(plans)


def test_an_unknown_grouping_is_refused_with_the_choices(tmp_path):
    with pytest.raises(ConfigError, match="follower_groups='all' is invalid.*replica, each"):
        _settings(tmp_path, follower_groups="all")


def _deposits(store, count):
    opened = NewEvent("AccountOpened", {"account_id": "a", "owner": "o"}, 1)
    store.append([AppendEntry("open", "account:a", 0, (opened,))])
    for n in range(1, count):
        deposited = NewEvent("Deposited", {"account_id": "a", "amount": n}, 1)
        store.append([AppendEntry(f"c{n}", "account:a", n, (deposited,))])


def test_followers_sharing_pages_read_each_page_once_and_decode_each_record_once(tmp_path):
    store = MemoryStore()
    _deposits(store, 1_000)
    pages = SharedPages(store, bank.app)
    balances = ViewFollower(bank.app, "balances", store, _settings(tmp_path), persist=False, pages=pages)
    audit = ViewFollower(bank.app, "audit_trail", store, _settings(tmp_path), persist=False, pages=pages)
    assert balances.catch_up() == audit.catch_up() == 1_000
    assert pages.reads == 4 and pages.shared == 4   # 4 pages (300, 300, 300, 100) read once: the short last ends both
    page = pages.pages[0]
    assert all(event is not None for event in page.decoded)   # decoded once, by the first follower
    assert balances.answer("GetBalance", {"account_id": "a"})["balance"] == sum(range(1, 1_000))
    assert len(audit.answer("GetAuditTrail", {"account_id": "a"})["entries"]) == 1_000


def test_a_follower_behind_the_others_reads_its_own_pages_and_catches_up(tmp_path):
    store = MemoryStore()
    _deposits(store, 700)
    pages = SharedPages(store, bank.app, keep=2)
    ahead = ViewFollower(bank.app, "balances", store, _settings(tmp_path), persist=False, pages=pages)
    assert ahead.catch_up() == 700
    behind = ViewFollower(bank.app, "balances", store, _settings(tmp_path), persist=False, pages=pages)
    assert behind.catch_up() == 700   # its first page was dropped from the two kept: read again
    assert behind.answer("GetBalance", {"account_id": "a"}) == ahead.answer("GetBalance", {"account_id": "a"})


@pytest.mark.slow
@pytest.mark.parametrize("grouping", ["replica", "each"])
def test_a_launched_system_runs_its_views_in_the_planned_processes_and_answers_from_each(tmp_path, grouping):
    data = tmp_path / "data"
    system = RunningSystem(data, free_port(), app="examples.bank:app", extra_args=("--follower-groups", grouping))
    try:
        with Encore.attach(data) as client:
            client.ask(OpenAccount(account_id="g", owner="o"))
            position = client.ask(Deposit(account_id="g", amount=7)).position
            assert client.query(GetBalance(account_id="g"), after=position)["balance"] == 7
            assert len(client.query(GetAuditTrail(account_id="g"), after=position)["entries"]) == 2
            actors = client.status()["actors"]
        views = [a for a in actors if a["role"] == "projection"]
        groups = [a for a in actors if a["role"] == "group"]
        assert sorted(v["name"] for v in views) == ["audit_trail-0", "balances-0"]
        assert all(v["checkpoint"] == position and v["group"] in {g["name"] for g in groups} for v in views)
        if grouping == "replica":
            assert len(groups) == 1 and {v["pid"] for v in views} == {groups[0]["pid"]}
            assert groups[0]["followers"] == ["balances-0", "audit_trail-0"]
        else:
            assert len(groups) == 2 and len({v["pid"] for v in views}) == 2
    finally:
        system.stop()


class GetMood(Query):
    pass


class Moody(Projection):
    """A view that cannot start while `broken` is set (its restore, say, raises)."""

    encore_name = "moody"
    broken = True

    def __init__(self) -> None:
        if Moody.broken:
            raise RuntimeError("moody cannot start")
        self.deposits = 0

    @applies(bank.Deposited)
    def _deposited(self, event, stored) -> None:
        self.deposits += 1

    @answers(GetMood)
    def mood(self, query) -> dict:
        return {"deposits": self.deposits}


def test_a_follower_that_cannot_start_is_reported_failed_while_its_group_runs_and_starts_once_it_can(tmp_path):
    moody_app = App("moody-bank", aggregates=[bank.Account], projections=[bank.Balances, Moody])
    Moody.broken = True
    try:
        with Encore.embedded(moody_app, tmp_path / "data", poll_interval_s=0.05) as client:
            client.ask(OpenAccount(account_id="m", owner="o"))
            position = client.ask(Deposit(account_id="m", amount=3)).position
            assert client.query(GetBalance(account_id="m"), after=position)["balance"] == 3   # its group-mate runs
            moody = next(a for a in client.status()["actors"] if a["name"] == "moody-0")
            assert moody["state"] == "failed" and "moody cannot start" in moody["failure"] and moody["running"]
            with pytest.raises(Unavailable, match="view moody could not start.*moody cannot start"):
                client.query(GetMood())
            Moody.broken = False   # the fault is fixed: the next poll starts it, and it folds the log
            deadline, answer = time.monotonic() + 30, None
            while answer is None and time.monotonic() < deadline:
                try:
                    answer = client.query(GetMood(), after=position)
                except Unavailable:
                    continue
            assert answer == {"deposits": 1}
            assert next(a for a in client.status()["actors"] if a["name"] == "moody-0")["state"] == "running"
    finally:
        Moody.broken = True
