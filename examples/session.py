"""The main job of `make run`: launch a system, drive all four domains, show status, stop.

Usage: python -m examples.session [--data DIR] [--port P]   (a temporary directory by default)
Until the load simulator exists, the bank part is a small closed-loop load whose end state is
checked against a model kept here, so the run says whether the guarantees held.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from actors.client import Encore
from actors.system import DEFAULT_PORT
from examples import bank, orders, tasks, users

ROOT = Path(__file__).resolve().parent.parent


def encore(*args: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "bin" / "encore"), *args], check=True, cwd=ROOT)


def show(label: str, value: object) -> None:
    print(f"  {label:44} {value}")


def tasks_part(client: Encore) -> None:
    print("tasks")
    client.ask(tasks.AddTask(task_id="t1", description="write the README"))
    client.ask(tasks.AddTask(task_id="t2", description="measure the budgets"))
    done = client.ask(tasks.CompleteTask(task_id="t1"))
    show("complete t1 twice ->", client.ask(tasks.CompleteTask(task_id="t1")).code)
    show("open / completed (read-your-writes)", (
        client.query(tasks.ListOpenTasks(), after=done.position)["tasks"],
        client.query(tasks.ListCompletedTasks(), after=done.position)["tasks"]))


def users_part(client: Encore) -> None:
    print("users")
    client.ask(users.CreateUser(user_id="u1", name="Ada", email="ada@example.org"))
    show("create u1 again ->", client.ask(users.CreateUser(user_id="u1", name="A", email="a@b.co")).code)
    try:
        client.ask_raw("CreateUser", {"user_id": "u2", "name": "", "email": "not-an-email"})
    except Exception as e:  # the point of this line is to show the error a user gets
        show("create with blank name, bad email ->", str(e)[:90] + "...")
    moved = client.ask(users.UpdateUser(user_id="u1", email="ada@lovelace.org"))
    show("user by new email", client.query(users.GetUserByEmail(email="ada@lovelace.org"), after=moved.position))


def orders_part(client: Encore) -> None:
    print("orders")
    item = orders.OrderItem(sku="book", quantity=2, price_cents=1500)
    client.ask(orders.PlaceOrder(order_id="o1", items=[item]))
    client.ask(orders.PayOrder(order_id="o1"))
    show("deliver before shipping ->", client.ask(orders.DeliverOrder(order_id="o1")).code)
    shipped = client.ask(orders.ShipOrder(order_id="o1"))
    show("status of o1", client.query(orders.GetOrderStatus(order_id="o1"), after=shipped.position)["status"])
    show("revenue (cents)", client.query(orders.GetRevenue(), after=shipped.position)["revenue_cents"])


def bank_part(client: Encore, accounts: int = 1_000, commands: int = 20_000) -> bool:
    print(f"bank: {accounts} accounts, {commands} commands in batches of 500, seed 42")
    rng, balances, rejected = random.Random(42), dict.fromkeys(range(accounts), 0), 0
    client.ask_many([bank.OpenAccount(account_id=f"acc-{i}", owner=f"owner-{i}") for i in range(accounts)])
    started, last = time.perf_counter(), 0
    for start in range(0, commands, 500):
        batch, plan = [], []
        for _ in range(min(500, commands - start)):
            i, amount = rng.randrange(accounts), rng.randint(1, 100)
            deposit = rng.random() < 0.7
            batch.append((bank.Deposit if deposit else bank.Withdraw)(account_id=f"acc-{i}", amount=amount))
            plan.append((i, amount if deposit else -amount))
        for (i, delta), result in zip(plan, client.ask_many(batch), strict=True):
            if result.accepted:
                balances[i] += delta
                last = max(last, result.position)
            elif result.code == "insufficient_funds" and balances[i] + delta < 0:
                rejected += 1
            else:
                raise SystemExit(f"unexpected result {result}")
    elapsed = time.perf_counter() - started
    total = client.query(bank.GetTotalBalance(), after=last)
    ok = total["total"] == sum(balances.values()) and total["accounts"] == accounts
    show("commands/s (2 shards, one client)", f"{commands / elapsed:,.0f}")
    show("rejected withdrawals", rejected)
    show("view total == model total", f"{total['total']} == {sum(balances.values())}: {ok}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args()
    data = args.data or Path(tempfile.mkdtemp(prefix="encore-run-")) / "data"
    encore("start", "--data", str(data), "--port", str(args.port))
    try:
        with Encore.attach(data) as client:
            tasks_part(client)
            users_part(client)
            orders_part(client)
            ok = bank_part(client)
        encore("status", "--data", str(data))
    finally:
        encore("stop", "--data", str(data))
        if args.data is None:
            shutil.rmtree(data.parent, ignore_errors=True)
    print("every check held" if ok else "A CHECK FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
