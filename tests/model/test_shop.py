"""The shop (examples/shop.py): a saga over orders, bank accounts and stock, and a welcome email
by SMTP to a real server, on an in-process system."""


import pytest

from actors.client import Encore
from examples.bank import Deposit, GetBalance, OpenAccount
from examples.shop import AddStock, GetShopOrder, GetShopSummary, GetStock, PlaceShopOrder, app
from loadsim import smtp as smtp_server
from storage import open_store
from tests.support.helpers import welcome_ids
from tests.support.system_helpers import free_port
from tests.support.waiting import wait_until


def _settled(client, orders, seconds=30):
    """Until every order is confirmed or cancelled (asking the view again each time)."""
    def settled():
        summary = client.query(GetShopSummary())
        return summary["orders"] == orders and set(summary["by_status"]) <= {"confirmed", "cancelled"} and summary
    return wait_until(settled, seconds=seconds, what=f"{orders} orders settled")


def test_the_saga_confirms_cancels_and_compensates_and_every_customer_gets_one_email(tmp_path, inbox):
    with Encore.embedded(app, tmp_path / "data") as client:
        client.ask_many([OpenAccount(account_id="rich", owner="Ann"), OpenAccount(account_id="poor", owner="Bob"),
                         AddStock(product_id="lamp", quantity=3)])
        client.ask(Deposit(account_id="rich", amount=500))
        client.ask_many([
            PlaceShopOrder(order_id="o1", customer="rich", product_id="lamp", quantity=2, price=100),  # confirmed
            PlaceShopOrder(order_id="o2", customer="poor", product_id="lamp", quantity=1, price=100),  # no money
            PlaceShopOrder(order_id="o3", customer="rich", product_id="lamp", quantity=5, price=10),   # no stock
        ])
        summary = _settled(client, 3)
        orders = {o: client.query(GetShopOrder(order_id=o)) for o in ("o1", "o2", "o3")}
        stock = client.query(GetStock(product_id="lamp"))
        balances = {a: client.query(GetBalance(account_id=a))["balance"] for a in ("rich", "poor")}
        wait_until(lambda: len(inbox.message_ids()) >= 2, between=client.status)   # the reactor runs meanwhile
    assert orders["o1"]["status"] == "confirmed"
    assert orders["o2"] == {"status": "cancelled", "amount": 100, "customer": "poor", "reason": "insufficient_funds"}
    assert orders["o3"]["status"] == "cancelled" and orders["o3"]["reason"] == "out_of_stock"
    assert stock == {"added": 3, "available": 1, "reserved": 0, "sold": 2}   # the poor order's stock came back
    assert balances == {"rich": 300, "poor": 0} and summary["takings"] == 200   # 500 deposited = 300 + 200
    assert sorted(inbox.message_ids()) == sorted(welcome_ids(tmp_path / "data", 1, 2))


def test_an_smtp_server_that_refuses_parks_the_email_and_a_retry_delivers_it(tmp_path, inbox):
    inbox.refuse = True
    with Encore.embedded(app, tmp_path / "data") as client:
        client.ask(OpenAccount(account_id="later", owner="Cy"))
        [parked] = wait_until(client.parked)   # each asks the system, which runs the effect's retries meanwhile
        assert parked["reactor"] == "welcome" and parked["kind"] == "effect" and "451" in parked["error"]
        inbox.refuse = False   # the server is back
        client.retry_parked("welcome", parked["offset"])
        wait_until(inbox.message_ids, between=client.status)
        assert inbox.message_ids() == welcome_ids(tmp_path / "data", 1) and client.parked() == []


def _reactor_error(client, name="welcome-0"):
    return next(a for a in client.status()["actors"] if a["name"] == name).get("error") or ""


def test_an_effect_still_failing_when_a_later_event_comes_is_delivered_once_its_server_is_up(tmp_path, monkeypatch):
    port = free_port()   # nothing listens here yet: the welcome email's connection is refused
    monkeypatch.setenv("ENCORE_SMTP", f"127.0.0.1:{port}")
    with Encore.embedded(app, tmp_path / "data") as client:
        client.ask(OpenAccount(account_id="first", owner="Ed"))
        client.ask(AddStock(product_id="pen", quantity=1))   # a later event, with no effect of its own
        wait_until(lambda: "effect of event 1" in _reactor_error(client))
        controller, inbox = smtp_server.start(port)   # the server comes up while the effect is retried
        try:
            wait_until(inbox.message_ids, between=client.status)
            parked = client.parked()
        finally:
            controller.stop()
    assert inbox.message_ids() == welcome_ids(tmp_path / "data", 1) and parked == []


def test_an_effect_that_keeps_failing_is_parked_and_later_effects_still_run(tmp_path, inbox):
    inbox.refuse = True
    with Encore.embedded(app, tmp_path / "data") as client:
        client.ask(OpenAccount(account_id="refused", owner="Flo"))
        wait_until(client.parked)
        inbox.refuse = False
        client.ask(OpenAccount(account_id="welcomed", owner="Gus"))
        wait_until(inbox.message_ids, between=client.status)
        parked = client.parked()
    assert [(p["offset"], p["kind"]) for p in parked] == [(1, "effect")]
    assert inbox.message_ids() == welcome_ids(tmp_path / "data", 2)


def test_a_welcome_reactor_added_to_a_system_with_history_welcomes_only_new_customers(tmp_path, inbox):
    from examples.bank import app as bank

    with Encore.embedded(bank, tmp_path / "data") as before:   # customers from before the shop
        before.ask_many([OpenAccount(account_id=f"old{i}", owner="o") for i in range(3)])
    with Encore.embedded(app, tmp_path / "data") as client:
        opened = client.ask(OpenAccount(account_id="new", owner="Nell"))
        wait_until(inbox.message_ids, between=client.status)
        welcome = next(a for a in client.status()["actors"] if a["name"] == "welcome-0")
    assert inbox.message_ids() == welcome_ids(tmp_path / "data", opened.position)
    assert welcome["resumed_from"] == 3   # it began at the head it found


def test_a_reactor_must_say_where_it_starts_in_words_it_knows():
    from actors import App, Reactor
    from actors.errors import ConfigError

    class Confused(Reactor):
        encore_name = "confused"
        encore_start = "tomorrow"

    with pytest.raises(ConfigError, match="encore_start"):
        App("confused", reactors=[Confused])


def test_two_systems_send_two_different_first_emails(tmp_path, inbox):
    for name in ("one", "two"):
        with Encore.embedded(app, tmp_path / name) as client:
            client.ask(OpenAccount(account_id="first", owner="Fay"))
            wait_until(lambda n=(1 if name == "one" else 2): len(inbox.message_ids()) >= n, between=client.status)
    one, two = welcome_ids(tmp_path / "one", 1) + welcome_ids(tmp_path / "two", 1)
    assert one != two and sorted(inbox.message_ids()) == sorted([one, two])


def test_a_store_keeps_its_system_id_across_reopening(tmp_path):
    with open_store(tmp_path / "store") as store:
        first = store.system_id()
    with open_store(tmp_path / "store") as store:
        again = store.system_id()
    with open_store(tmp_path / "other") as other:
        different = other.system_id()
    assert first == again and first != different and len(first) == 32


def test_an_order_not_paid_in_time_is_cancelled_its_stock_released_and_a_late_payment_refunded(
        tmp_path, inbox, monkeypatch):
    import examples.shop

    monkeypatch.setattr(examples.shop, "PAY_WITHIN_S", 0.0)   # due at once: it races the payment
    with Encore.embedded(app, tmp_path / "data") as client:
        client.ask_many([OpenAccount(account_id="slow", owner="Di"), AddStock(product_id="desk", quantity=1)])
        client.ask(Deposit(account_id="slow", amount=100))
        client.ask(PlaceShopOrder(order_id="late", customer="slow", product_id="desk", quantity=1, price=60))
        _settled(client, 1)
        order = client.query(GetShopOrder(order_id="late"))
        stock = wait_until(lambda: (s := client.query(GetStock(product_id="desk")))["reserved"] == 0 and s)
        balance = wait_until(lambda: client.query(GetBalance(account_id="slow"))["balance"] == 100 and 100)
        with open_store(tmp_path / "data" / "store") as store:
            moves = [(e.type, e.data["amount"]) for e in store.read_log(after=0, limit=1000)
                     if e.stream == "account:slow" and e.type != "AccountOpened"]
    assert moves == [("Deposited", 100), ("Withdrawn", 60), ("Deposited", 60)]   # charged, then refunded
    assert order["status"] == "cancelled" and order["reason"] == "not paid in time"
    assert stock == {"added": 1, "available": 1, "reserved": 0, "sold": 0}
    assert balance == 100   # charged, then refunded: the payment came after the cancellation


def test_a_sagas_commands_carry_the_orders_correlation_id_and_headers_and_name_the_event_that_caused_them(
        tmp_path, inbox):
    with Encore.embedded(app, tmp_path / "data") as client:
        client.ask_many([OpenAccount(account_id="cora", owner="Cora"), AddStock(product_id="mug", quantity=2)])
        client.ask(Deposit(account_id="cora", amount=50))
        placed = client.ask(PlaceShopOrder(order_id="o9", customer="cora", product_id="mug", quantity=1, price=20),
                            correlation_id="checkout-o9", metadata={"user": "cora", "channel": "web"})
        _settled(client, 1)
        with open_store(tmp_path / "data" / "store") as store:
            log = store.read_log(after=0, limit=1000)
    by_id = {e.event_id: e for e in log}
    saga = [e for e in log if e.correlation_id == "checkout-o9"]
    assert {e.stream.partition(":")[0] for e in saga} == {"shop-order", "product", "account"}, saga
    assert all(e.metadata == {"user": "cora", "channel": "web"} for e in saga)
    first, *caused = saga
    assert first.command_id == placed.command_id == first.causation_id and first.type == "ShopOrderPlaced"
    for event in caused:   # each names an earlier event of the saga as its cause
        cause = by_id[event.causation_id]
        assert cause.correlation_id == "checkout-o9" and cause.offset < event.offset
    others = [e for e in log if e.correlation_id != "checkout-o9"]
    assert all(e.correlation_id == e.causation_id == e.command_id and e.metadata == {} for e in others)
