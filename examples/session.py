"""`make demo`: launch a system, walk through all four domains, show status, stop.

Usage: python -m examples.session [--data DIR] [--port P]   (a temporary directory by default)
(`make run` runs the bank load simulation instead: bin/loadsim.)
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
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


def bank_part(client: Encore) -> None:
    print("bank")
    client.ask(bank.OpenAccount(account_id="acc-1", owner="ann"))
    client.ask(bank.Deposit(account_id="acc-1", amount=100))
    show("withdraw 150 of 100 ->", client.ask(bank.Withdraw(account_id="acc-1", amount=150)).code)
    taken = client.ask(bank.Withdraw(account_id="acc-1", amount=30))
    balance = client.query(bank.GetBalance(account_id="acc-1"), after=taken.position)["balance"]
    show("balance (read-your-writes)", balance)
    trail = client.query(bank.GetAuditTrail(account_id="acc-1"), after=taken.position)["entries"]
    show("audit trail", [(e["kind"], e["amount"], e["balance"]) for e in trail])


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
            bank_part(client)
        encore("status", "--data", str(data))
    finally:
        encore("stop", "--data", str(data))
        if args.data is None:
            shutil.rmtree(data.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
