"""Bank accounts: open, deposit, withdraw (no overdraft), with balances, a total and an audit trail.

The names are fixed: other tools (the load simulator, the peer benchmark) drive this domain by name.
"""

from __future__ import annotations

from pydantic import Field, PositiveInt

from actors import Aggregate, App, Command, DomainError, Event, Projection, Query, answers, applies, handles


class OpenAccount(Command):
    encore_target = "account_id"
    account_id: str = Field(min_length=1, max_length=100)
    owner: str = Field(min_length=1, max_length=200)


class Deposit(Command):
    encore_target = "account_id"
    account_id: str = Field(min_length=1, max_length=100)
    amount: PositiveInt = Field(le=10**12)


class Withdraw(Command):
    encore_target = "account_id"
    account_id: str = Field(min_length=1, max_length=100)
    amount: PositiveInt = Field(le=10**12)


class AccountOpened(Event):
    account_id: str
    owner: str


class Deposited(Event):
    account_id: str
    amount: int


class Withdrawn(Event):
    account_id: str
    amount: int


class Account(Aggregate):
    encore_type = "account"

    def __init__(self) -> None:
        self.opened = False
        self.owner = ""
        self.balance = 0

    @handles(OpenAccount)
    def open(self, c: OpenAccount) -> list[Event]:
        if self.opened:
            raise DomainError("account_already_open", f"account {c.account_id} is already open")
        return [AccountOpened(account_id=c.account_id, owner=c.owner)]

    @handles(Deposit)
    def deposit(self, c: Deposit) -> list[Event]:
        self._require_open(c.account_id)
        return [Deposited(account_id=c.account_id, amount=c.amount)]

    @handles(Withdraw)
    def withdraw(self, c: Withdraw) -> list[Event]:
        self._require_open(c.account_id)
        if c.amount > self.balance:
            raise DomainError(
                "insufficient_funds",
                f"account {c.account_id} holds {self.balance}, cannot withdraw {c.amount}",
            )
        return [Withdrawn(account_id=c.account_id, amount=c.amount)]

    def _require_open(self, account_id: str) -> None:
        if not self.opened:
            raise DomainError("account_not_open", f"account {account_id} is not open; open it first")

    @applies(AccountOpened)
    def _opened(self, e: AccountOpened) -> None:
        self.opened, self.owner = True, e.owner

    @applies(Deposited)
    def _deposited(self, e: Deposited) -> None:
        self.balance += e.amount

    @applies(Withdrawn)
    def _withdrawn(self, e: Withdrawn) -> None:
        self.balance -= e.amount


class GetBalance(Query):
    account_id: str


class GetTotalBalance(Query):
    pass


class GetAuditTrail(Query):
    account_id: str


class Balances(Projection):
    encore_name = "balances"

    def __init__(self) -> None:
        self.balances: dict[str, int] = {}
        self.owners: dict[str, str] = {}
        self.total = 0

    @applies(AccountOpened)
    def _opened(self, e: AccountOpened, stored) -> None:
        self.balances.setdefault(e.account_id, 0)
        self.owners[e.account_id] = e.owner

    @applies(Deposited)
    def _deposited(self, e: Deposited, stored) -> None:
        self.balances[e.account_id] = self.balances.get(e.account_id, 0) + e.amount
        self.total += e.amount

    @applies(Withdrawn)
    def _withdrawn(self, e: Withdrawn, stored) -> None:
        self.balances[e.account_id] = self.balances.get(e.account_id, 0) - e.amount
        self.total -= e.amount

    @answers(GetBalance)
    def balance(self, q: GetBalance) -> dict:
        return {
            "account_id": q.account_id,
            "open": q.account_id in self.balances,
            "owner": self.owners.get(q.account_id),
            "balance": self.balances.get(q.account_id, 0),
        }

    @answers(GetTotalBalance)
    def total_balance(self, q: GetTotalBalance) -> dict:
        return {"total": self.total, "accounts": len(self.balances)}


class AuditTrail(Projection):
    encore_name = "audit_trail"

    def __init__(self) -> None:
        self.trails: dict[str, list] = {}

    def _record(self, account_id: str, kind: str, amount: int, stored) -> None:
        trail = self.trails.setdefault(account_id, [])
        before = trail[-1]["balance"] if trail else 0
        after = before + amount if kind != "withdrawal" else before - amount
        trail.append({"offset": stored.offset, "kind": kind, "amount": amount, "balance": after,
                      "time": stored.time})

    @applies(AccountOpened)
    def _opened(self, e: AccountOpened, stored) -> None:
        self._record(e.account_id, "opened", 0, stored)

    @applies(Deposited)
    def _deposited(self, e: Deposited, stored) -> None:
        self._record(e.account_id, "deposit", e.amount, stored)

    @applies(Withdrawn)
    def _withdrawn(self, e: Withdrawn, stored) -> None:
        self._record(e.account_id, "withdrawal", e.amount, stored)

    @answers(GetAuditTrail)
    def audit_trail(self, q: GetAuditTrail) -> dict:
        return {"account_id": q.account_id, "entries": self.trails.get(q.account_id, [])}


app = App("bank", aggregates=[Account], projections=[Balances, AuditTrail])
