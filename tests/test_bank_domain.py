"""Given/when/then tests of the bank aggregate: decisions only, no runtime."""

import pytest

from actors import DomainError
from examples.bank import Account, AccountOpened, Deposit, Deposited, OpenAccount, Withdraw, Withdrawn


def given(*events):
    account = Account()
    for event in events:
        account.apply(event)
    return account


OPENED = AccountOpened(account_id="a", owner="ann")


def test_opening_a_new_account_records_it():
    assert given().decide(OpenAccount(account_id="a", owner="ann")) == [OPENED]


def test_opening_twice_is_refused():
    with pytest.raises(DomainError) as e:
        given(OPENED).decide(OpenAccount(account_id="a", owner="ann"))
    assert e.value.code == "account_already_open"


def test_deposit_and_withdraw_within_the_balance():
    account = given(OPENED, Deposited(account_id="a", amount=30))
    assert account.decide(Withdraw(account_id="a", amount=30)) == [Withdrawn(account_id="a", amount=30)]


def test_an_overdraft_is_refused():
    with pytest.raises(DomainError) as e:
        given(OPENED, Deposited(account_id="a", amount=30)).decide(Withdraw(account_id="a", amount=31))
    assert e.value.code == "insufficient_funds"


def test_a_closed_account_takes_no_money():
    with pytest.raises(DomainError) as e:
        given().decide(Deposit(account_id="a", amount=1))
    assert e.value.code == "account_not_open"


def test_amounts_must_be_positive():
    with pytest.raises(ValueError):
        Deposit(account_id="a", amount=0)
