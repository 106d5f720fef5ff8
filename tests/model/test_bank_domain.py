"""Given/when/then tests of the bank aggregate: decisions only, no runtime (actors.testing)."""

import pytest

from actors.testing import given
from examples.bank import Account, AccountOpened, Deposit, Deposited, OpenAccount, Withdraw, Withdrawn

OPENED = AccountOpened(account_id="a", owner="ann")


def test_opening_a_new_account_records_it():
    given(Account).when(OpenAccount(account_id="a", owner="ann")).then(OPENED)


def test_opening_twice_is_refused():
    given(Account, OPENED).when(OpenAccount(account_id="a", owner="ann")).then_rejected("account_already_open")


def test_deposit_and_withdraw_within_the_balance():
    given(Account, OPENED, Deposited(account_id="a", amount=30)) \
        .when(Withdraw(account_id="a", amount=30)).then(Withdrawn(account_id="a", amount=30))


def test_an_overdraft_is_refused():
    given(Account, OPENED, Deposited(account_id="a", amount=30)) \
        .when(Withdraw(account_id="a", amount=31)).then_rejected("insufficient_funds")


def test_a_closed_account_takes_no_money():
    given(Account).when(Deposit(account_id="a", amount=1)).then_rejected("account_not_open")


def test_amounts_must_be_positive():
    with pytest.raises(ValueError):
        Deposit(account_id="a", amount=0)
