"""actors.testing, the kit users test their domains with: it passes on the right answer and says
what differs on a wrong one; the pytest plugin's encore_system fixture."""

import pytest

from actors.testing import given, given_reactor, given_view
from examples.bank import (
    Account,
    AccountOpened,
    Balances,
    Deposit,
    Deposited,
    GetBalance,
    OpenAccount,
    Withdraw,
)
from examples.shop import (
    CancelShopOrder,
    Checkout,
    MarkPaid,
    ReserveStock,
    ShopOrderPlaced,
    StockReserved,
)

OPENED = AccountOpened(account_id="a", owner="ann")
PLACED = ShopOrderPlaced(order_id="o", customer="a", product_id="p", quantity=2, amount=10)


def test_an_aggregate_given_events_when_a_command_then_events_or_a_rejection():
    given(Account, OPENED).when(Deposit(account_id="a", amount=5)).then(Deposited(account_id="a", amount=5))
    given(Account).when(Withdraw(account_id="a", amount=5)).then_rejected("account_not_open")
    given(Account, OPENED, Deposited(account_id="a", amount=3)) \
        .when(Withdraw(account_id="a", amount=5)).then_rejected("insufficient_funds")


def test_a_wrong_expectation_says_what_differs():
    with pytest.raises(AssertionError, match=r"Deposited.amount: expected 6, got 5"):
        given(Account, OPENED).when(Deposit(account_id="a", amount=5)).then(Deposited(account_id="a", amount=6))
    with pytest.raises(AssertionError, match="was rejected .account_not_open"):
        given(Account).when(Deposit(account_id="a", amount=5)).then(Deposited(account_id="a", amount=5))
    with pytest.raises(AssertionError, match="was accepted with .'AccountOpened'.; expected a rejection"):
        given(Account).when(OpenAccount(account_id="a", owner="b")).then_rejected("account_already_open")


def test_a_view_given_events_answers_a_query():
    given_view(Balances, OPENED, Deposited(account_id="a", amount=5)) \
        .query(GetBalance(account_id="a")).answers({"account_id": "a", "open": True, "owner": "ann", "balance": 5})
    with pytest.raises(AssertionError, match="balance: expected 6, got 5"):
        given_view(Balances, OPENED, Deposited(account_id="a", amount=5)) \
            .query(GetBalance(account_id="a")).answers({"account_id": "a", "open": True, "owner": "ann",
                                                       "balance": 6})


def test_a_reactor_given_events_when_an_event_or_an_outcome_then_commands_and_deadlines():
    reaction = given_reactor(Checkout).when(PLACED)
    reaction.then_sends(ReserveStock(product_id="p", order_id="o", quantity=2))
    reaction.then_schedules("pay:o", CancelShopOrder(order_id="o", reason="not paid in time"))
    given_reactor(Checkout, PLACED).when(StockReserved(product_id="p", order_id="o", quantity=2)) \
        .then_sends(Withdraw(account_id="a", amount=10))
    refused = given_reactor(Checkout, PLACED).when_rejected(ReserveStock(product_id="p", order_id="o", quantity=2),
                                                            "out_of_stock", cause=PLACED)
    refused.then_sends(CancelShopOrder(order_id="o", reason="out_of_stock"))
    refused.then_cancels("pay:o")
    reserved = StockReserved(product_id="p", order_id="o", quantity=2)
    given_reactor(Checkout, PLACED, reserved).when_accepted(Withdraw(account_id="a", amount=10), cause=reserved) \
        .then_sends(MarkPaid(order_id="o"))
    with pytest.raises(AssertionError, match="no deadline 'later'"):
        given_reactor(Checkout).when(PLACED).then_schedules("later")


def test_the_encore_system_fixture_gives_an_embedded_system_and_stops_it(encore_system):
    from examples.bank import app

    encore = encore_system(app)
    opened = encore.ask(OpenAccount(account_id="f", owner="fay"))
    assert encore.query(GetBalance(account_id="f"), after=opened.position)["owner"] == "fay"


def test_store_faults_fail_commits_then_let_them_through(encore_system):
    from actors.errors import CommandFailed, ValidationFailed
    from actors.testing import store_faults
    from examples.bank import app

    encore = encore_system(app)
    encore.ask(OpenAccount(account_id="s", owner="sam"))
    with store_faults(encore, fail_next=1):
        with pytest.raises(CommandFailed, match="injected by store_faults"):
            encore.ask(Deposit(account_id="s", amount=5), command_id="d-1")
        again = encore.ask(Deposit(account_id="s", amount=5), command_id="d-1")   # the retry applies, once
    assert again.accepted and not again.duplicate
    with store_faults(encore, full=True):
        [result] = encore.ask_many([Deposit(account_id="s", amount=1)])
        assert result.status == "failed" and "full" in result.message
    with store_faults(encore, slow_s=0.01):
        slow = encore.ask(Deposit(account_id="s", amount=2))
    assert encore.query(GetBalance(account_id="s"), after=slow.position)["balance"] == 7
    with pytest.raises(ValidationFailed, match="Encore.embedded"):
        with store_faults(object(), full=True):
            pass


def test_a_reactor_effect_runs_with_its_key(monkeypatch):
    from actors.testing import given_reactor
    from examples import mail, shop

    sent = []

    class FakeSmtp:   # the outside world, faked: what the effect hands over is kept
        def __init__(self, host, port, timeout):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def send_message(self, message):
            sent.append((message["To"], message["Message-ID"]))

    monkeypatch.setattr(mail.smtplib, "SMTP", FakeSmtp)
    key = given_reactor(shop.Welcome).runs_effect(OPENED)
    assert key == "welcome:1" and sent == [("a@customers.invalid", "<welcome.1@encore.invalid>")]
    with pytest.raises(AssertionError, match="has no effect for Deposited"):
        given_reactor(shop.Welcome).runs_effect(Deposited(account_id="a", amount=1))
