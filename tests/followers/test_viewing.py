"""A projection's replica (ViewFollower): pages of the log, in order, stopping loudly on a bad event."""

import pytest

from actors import App, Projection, applies
from actors.errors import QueryFailed
from actors.followers.view_fold import ViewFollower
from actors.process.settings import Settings
from examples import bank
from storage import AppendEntry, MemoryStore, NewEvent


class FragileBalances(Projection):
    """Balances, with a bug: a deposit of 13 raises."""

    encore_name = "fragile"

    def __init__(self) -> None:
        self.balances: dict[str, int] = {}

    @applies(bank.Deposited)
    def _deposited(self, event: bank.Deposited, stored) -> None:
        if event.amount == 13:
            raise ValueError("unlucky amount")
        self.balances[event.account_id] = self.balances.get(event.account_id, 0) + event.amount


def deposits(store, amounts):
    for n, amount in enumerate(amounts, start=1):
        store.append([AppendEntry(f"c{n}", "account:a", n - 1,
                                  (NewEvent("Deposited", {"account_id": "a", "amount": amount}, 1),))])


def follower(store, tmp_path, name="fragile"):
    app = App("fragile", aggregates=[bank.Account], projections=[FragileBalances])
    return ViewFollower(app, name, store, Settings(data_dir=tmp_path), persist=False)


def test_a_failing_event_stops_the_view_just_before_it(tmp_path):
    store = MemoryStore()
    deposits(store, [5, 7, 13, 20])
    view = follower(store, tmp_path)
    view.catch_up()
    assert view.checkpoint == 2 and view.view.balances == {"a": 12}  # 20 was never applied
    assert view.stats.applied == 2
    assert "event 3 (Deposited) failed in fragile" in view.failure and "unlucky amount" in view.failure
    with pytest.raises(QueryFailed, match="view fragile is stopped"):
        view.answer("GetBalance", {"account_id": "a"})
    assert view.catch_up() == 0 and view.checkpoint == 2  # it stays stopped: nothing is skipped


def test_pages_fold_every_event_once_in_order(tmp_path, monkeypatch):
    monkeypatch.setattr("actors.followers.view_fold.PAGE", 3)   # several pages, one partly filled
    store = MemoryStore()
    deposits(store, range(1, 12))                     # 1..11: no 13
    view = follower(store, tmp_path)
    assert view.catch_up() == 11
    assert view.checkpoint == 11 and view.view.balances == {"a": sum(range(1, 12))}
    assert view.stats.applied == 11 and view.failure is None
    deposits_more = [AppendEntry("c12", "account:a", 11, (NewEvent("Deposited", {"account_id": "a", "amount": 1}, 1),))]
    store.append(deposits_more)
    assert view.catch_up() == 1 and view.checkpoint == 12


def test_a_view_whose_snapshot_is_costly_saves_only_after_folding_several_times_its_cost(tmp_path):
    store = MemoryStore()
    deposits(store, [1, 2, 3])
    view = ViewFollower(bank.app, "balances", store, Settings(data_dir=tmp_path, view_snapshot_every=1), persist=True)
    view.catch_up(until=1)
    assert view.save_if_due() and view.save_cpu_s < 0.005   # cheap: saved as often as asked
    view.save_cpu_s = 1.0    # as if that save had taken a second of CPU
    view.catch_up(until=2)
    assert view.fold_cpu_s < 4.0 and not view.save_if_due()   # due by count, but costly: it waits
    view.fold_cpu_s = 4.0    # as if it had folded four times that since
    view.catch_up()
    assert view.save_if_due() and store.load_view("balances").checkpoint == 3
    view.save_cpu_s = 1.0
    deposits_after = [AppendEntry("c9", "account:b", 0, (NewEvent("Deposited", {"account_id": "b", "amount": 9}, 1),))]
    store.append(deposits_after)
    view.catch_up()
    assert view.save_if_due(force=True) and store.load_view("balances").checkpoint == 4   # forced (shutdown): always
