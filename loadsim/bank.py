"""The bank workload: exactly the peer benchmark's (peer/eventsourcing_bank.py).

A accounts are opened, then C commands drawn with random.Random(seed), in the peer's order of
draws: 70% Deposit(1..100), 30% Withdraw(1..100), the account chosen uniformly. A withdrawal
beyond the balance is rejected by the domain; for seed 42, 10,000 accounts and 100,000 commands,
8,848 are.
"""

from __future__ import annotations

import random
from typing import Any

from examples import bank

from .workload import Plan, Step, Workload, differences


class BankWorkload(Workload):
    name = "bank"
    app = bank.app
    app_path = "examples.bank:app"
    default_entities, default_commands = 10_000, 100_000
    quick_entities, quick_commands = 1_000, 10_000
    default_reads = 0   # the peer's workload is commands only

    def account(self, i: int) -> str:
        return f"{self.prefix}acc-{i}"

    def plan(self) -> Plan:
        rng, balances = random.Random(self.seed), [0] * self.entities
        setup = [Step(bank.OpenAccount(account_id=self.account(i), owner=f"owner-{i}"), self.account(i),
                      "accepted", observe=0) for i in range(self.entities)]
        main, rejected = [], 0
        for _ in range(self.commands):
            is_deposit = rng.random() < 0.7
            i = rng.randrange(self.entities)
            amount = rng.randint(1, 100)
            key = self.account(i)
            if is_deposit:
                balances[i] += amount
                main.append(Step(bank.Deposit(account_id=key, amount=amount), key, "accepted", observe=balances[i]))
            elif amount > balances[i]:
                rejected += 1
                main.append(Step(bank.Withdraw(account_id=key, amount=amount), key, "rejected",
                                 "insufficient_funds", observe=balances[i]))
            else:
                balances[i] -= amount
                main.append(Step(bank.Withdraw(account_id=key, amount=amount), key, "accepted", observe=balances[i]))
        model = {"balances": {self.account(i): b for i, b in enumerate(balances)},
                 "total": sum(balances), "rejected_withdrawals": rejected}
        return Plan(setup, main, model)

    def query_for(self, key: str) -> bank.GetBalance:
        return bank.GetBalance(account_id=key)

    def observed(self, answer: Any) -> Any:
        return answer["balance"]

    def check_views(self, views, plan, *, whole_log):
        balances_view, trails = views["balances"], views["audit_trail"].trails
        expected = plan.model["balances"]
        found = differences("balance of", expected, {k: balances_view.balances.get(k) for k in expected})
        accepted_ops: dict[str, int] = {}
        for step in plan.main:
            if step.expect == "accepted":
                accepted_ops[step.key] = accepted_ops.get(step.key, 0) + 1
        trail_lengths = {k: len(trails.get(k, [])) for k in expected}
        found += differences("audit entries of", {k: 1 + accepted_ops.get(k, 0) for k in expected}, trail_lengths)
        found += differences("audit trail's last balance of", expected,
                             {k: trails[k][-1]["balance"] if trails.get(k) else None for k in expected})
        compared = {"accounts": len(expected), "balances": True, "audit_trails": True}
        if whole_log:
            if balances_view.total != plan.model["total"]:
                found.append(f"total: model says {plan.model['total']}, view says {balances_view.total}")
            compared["total"] = plan.model["total"]
        return found, compared
