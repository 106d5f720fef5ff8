"""Reactors on a launched system: a reactor killed with kill -9 again and again, mid-stream,
still answers every event exactly once (its command ids are derived from the events)."""


import pytest

from actors.client import Encore
from examples.bank import GetBalance, OpenAccount
from storage import open_store
from tests.support.helpers import welcome_ids
from tests.support.system_helpers import RunningSystem, encore, encore_json, free_port, kill_and_wait
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow
ACCOUNTS = 400


def _reactor(client):
    status = client.status()
    return status, next(a for a in status["actors"] if a["role"] == "reactor")


def _wait(client, ready, seconds=60):
    """(status, the reactor's entry) once `ready(status, reactor)` holds."""
    return wait_until(lambda: ready(*(found := _reactor(client))) and found, seconds=seconds)


def test_a_reactor_killed_again_and_again_answers_every_event_exactly_once(tmp_path):
    data = tmp_path / "data"
    system = RunningSystem(data, free_port(), app="tests.support.reactor_app:app")
    try:
        with Encore.attach(data) as client:
            kills = 0
            for start in range(0, ACCOUNTS, 50):
                client.ask_many([OpenAccount(account_id=f"a{i}", owner="late" if i % 40 == 0 else "o")
                                 for i in range(start, start + 50)])
                if start % 100 == 0:   # kill it while it works, once it is up again
                    _, reactor = _wait(client, lambda s, r: r["running"] and r["answered"])
                    kill_and_wait([reactor["pid"]])
                    kills += 1
            status, reactor = _wait(client, lambda s, r: r["running"] and r["answered"] and r["lag"] == 0
                                    and r["pending_deadlines"] == 0 and r["in_flight"] == 0)
            assert reactor["restarts"] == kills and reactor["lag"] == 0, reactor
            head = status["head_offset"]
            balances = [client.query(GetBalance(account_id=f"a{i}"), after=head)["balance"] for i in range(ACCOUNTS)]
        code, parked = encore_json("parked", data=data)
        assert code == 0 and parked == []
        refused = encore("retry", "nobody", data=data)
        assert refused.returncode == 2 and "not a reactor" in refused.stderr
        listed = encore("status", data=data, check=True).stdout
        assert "reactor     welcome-0" in listed and "deadlines 0 parked 0" in listed
    finally:
        system.stop()
    # the bonus (10) and the note for the refused fee (1) once each; the "late" ones 1 more at their deadline
    assert balances == [12 if i % 40 == 0 else 11 for i in range(ACCOUNTS)]
    with open_store(data / "store") as store:
        sent = [e.command_id for e in store.read_log(after=0, limit=10**6) if e.command_id.startswith("welcome:")]
    assert len(sent) == len(set(sent)) == ACCOUNTS * 2 + ACCOUNTS // 40


def test_the_shop_saga_survives_kill_9_of_its_reactors_and_shard_mid_flow(tmp_path):
    from examples.bank import Deposit
    from examples.shop import AddStock, GetShopSummary, GetStock, PlaceShopOrder
    from loadsim import smtp as smtp_server

    smtp_port = free_port()
    controller, inbox = smtp_server.start(smtp_port)
    data = tmp_path / "data"
    system = RunningSystem(data, free_port(), app="examples.shop:app", env={"ENCORE_SMTP": f"127.0.0.1:{smtp_port}"})
    customers, products, orders = 12, 3, 90
    try:
        with Encore.attach(data) as client:
            client.ask_many([OpenAccount(account_id=f"c{i}", owner=f"C{i}") for i in range(customers)]
                            + [AddStock(product_id=f"p{i}", quantity=20) for i in range(products)])
            client.ask_many([Deposit(account_id=f"c{i}", amount=100 * (i % 4)) for i in range(1, customers) if i % 4])
            victims = ["checkout-0", "welcome-0", "shard-0", "checkout-0"]
            for start in range(0, orders, 15):
                client.ask_many([PlaceShopOrder(order_id=f"o{n}", customer=f"c{n % customers}",
                                                product_id=f"p{n % products}", quantity=1 + n % 3, price=20)
                                 for n in range(start, start + 15)])
                if victims:
                    name = victims.pop(0)
                    status = client.status()
                    victim = next(a for a in status["actors"] if a["name"] == name)
                    if victim["running"] and victim["pid"]:
                        kill_and_wait([victim["pid"]])
                    _wait(client, lambda s, r, name=name: next(a for a in s["actors"] if a["name"] == name)["answered"])
                    client.refresh_topology()   # a restarted shard lives at a new address
            summary = wait_until(lambda: (s := client.query(GetShopSummary()))["orders"] == orders and set(
                s["by_status"]) <= {"confirmed", "cancelled"} and s, seconds=90, what="every order settled")
            stock = [client.query(GetStock(product_id=f"p{i}")) for i in range(products)]
            balances = sum(client.query(GetBalance(account_id=f"c{i}"))["balance"] for i in range(customers))
            wait_until(lambda: len(set(inbox.message_ids())) >= customers, seconds=60, between=client.status)
            parked = client.parked()
    finally:
        system.stop()
        controller.stop()
    assert summary["orders"] == orders and set(summary["by_status"]) <= {"confirmed", "cancelled"}, summary
    assert all(s["added"] == s["available"] + s["reserved"] + s["sold"] and s["reserved"] == 0 for s in stock), stock
    deposited = sum(100 * (i % 4) for i in range(customers))
    assert balances + summary["takings"] == deposited   # money conserved: nothing charged twice or lost
    assert sorted(set(inbox.message_ids())) == sorted(welcome_ids(data, *range(1, customers + 1)))
    assert parked == []


def test_an_effect_failing_while_its_reactor_is_killed_is_still_delivered_once_the_server_is_up(tmp_path):
    from examples.shop import AddStock
    from loadsim import smtp as smtp_server

    smtp_port = free_port()   # nothing listens yet: every try of the welcome email is refused
    data = tmp_path / "data"
    system = RunningSystem(data, free_port(), app="examples.shop:app", env={"ENCORE_SMTP": f"127.0.0.1:{smtp_port}"})
    controller = None
    try:
        with Encore.attach(data) as client:
            client.ask(OpenAccount(account_id="first", owner="Ed"))
            client.ask(AddStock(product_id="pen", quantity=1))   # a later event, with no effect of its own

            def failing(status, reactor):
                welcome = next(a for a in status["actors"] if a["name"] == "welcome-0")
                return welcome["running"] and "effect of event 1" in (welcome.get("error") or "")
            for _ in range(2):   # kill -9 during the retries, twice
                status, _ = _wait(client, failing)
                welcome = next(a for a in status["actors"] if a["name"] == "welcome-0")
                assert failing(status, None), welcome
                kill_and_wait([welcome["pid"]])
            _wait(client, failing)
            controller, inbox = smtp_server.start(smtp_port)
            wait_until(inbox.message_ids, seconds=60, between=client.status)
            parked = client.parked()
    finally:
        system.stop()
        if controller is not None:
            controller.stop()
    assert set(inbox.message_ids()) == set(welcome_ids(data, 1)) and parked == []
