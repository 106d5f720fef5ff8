#!/usr/bin/env python3
"""The bank workload on the `eventsourcing` library (SQLite, durable), in that library's idioms.

Runs in a virtual environment of its own (`bin/bench-vs-peer` makes it from peer/requirements.txt);
it imports nothing of Encore. The workload is `bin/loadsim bank`'s: A accounts opened, then C
commands drawn with random.Random(seed): 70% deposits and 30% withdrawals of 1..100, a withdrawal
that would overdraw raising a domain error inside the aggregate (nothing is saved). One sequential
client; every accepted command is committed (SQLite, synchronous) before the next.

Prints one JSON object: commands per second of the command phase, rejections, and a check that
the aggregates' balances equal a model kept beside them.

    python peer/eventsourcing_bank.py --db /tmp/bank.db [--accounts 10000] [--commands 100000] [--seed 42]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event


class InsufficientFundsError(Exception):
    """A withdrawal that would make the balance negative."""


class BankAccount(Aggregate):
    @staticmethod
    def create_id(account_id: int) -> UUID:
        return uuid5(NAMESPACE_URL, f"/accounts/{account_id}")

    @event("Opened")
    def __init__(self, owner: str, account_id: int) -> None:
        self.owner, self.account_id, self.balance = owner, account_id, 0

    @event("Deposited")
    def deposit(self, amount: int) -> None:
        self.balance += amount

    @event("Withdrawn")
    def withdraw(self, amount: int) -> None:
        if self.balance < amount:  # raising in an @event method records nothing
            raise InsufficientFundsError(f"account {self.account_id}: balance {self.balance} < {amount}")
        self.balance -= amount


class Bank(Application[UUID]):
    def open_account(self, owner: str, account_id: int) -> None:
        self.save(BankAccount(owner=owner, account_id=account_id))

    def deposit(self, account_id: int, amount: int) -> None:
        account = self.repository.get(BankAccount.create_id(account_id))
        account.deposit(amount)
        self.save(account)

    def withdraw(self, account_id: int, amount: int) -> None:
        account = self.repository.get(BankAccount.create_id(account_id))
        account.withdraw(amount)
        self.save(account)

    def balance(self, account_id: int) -> int:
        return self.repository.get(BankAccount.create_id(account_id)).balance


def run(accounts: int, commands: int, seed: int) -> dict:
    bank = Bank()
    rng, model = random.Random(seed), [0] * accounts
    for i in range(accounts):
        bank.open_account(f"owner-{i}", i)
    rejected = 0
    started = time.perf_counter()
    for _ in range(commands):
        is_deposit, account, amount = rng.random() < 0.7, rng.randrange(accounts), rng.randint(1, 100)
        if is_deposit:
            bank.deposit(account, amount)
            model[account] += amount
            continue
        try:
            bank.withdraw(account, amount)
        except InsufficientFundsError:
            rejected += 1
        else:
            model[account] -= amount
    elapsed = time.perf_counter() - started
    mismatched = sum(1 for i in range(accounts) if bank.balance(i) != model[i])
    return {"accounts": accounts, "commands": commands, "seed": seed, "elapsed_s": round(elapsed, 3),
            "commands_per_s": round(commands / elapsed, 1), "rejected": rejected,
            "balances_equal_model": mismatched == 0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="SQLite file to create (removed first)")
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--commands", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(args.db + suffix):
            os.remove(args.db + suffix)
    os.environ.update({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": args.db})
    result = run(args.accounts, args.commands, args.seed)
    print(json.dumps(result))
    return 0 if result["balances_equal_model"] else 1


if __name__ == "__main__":
    sys.exit(main())
