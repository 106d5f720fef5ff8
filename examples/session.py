"""`make demo`: launch a system, walk through all four domains, show status, stop.

Usage: python -m examples.session [--data DIR] [--port P]   (a temporary directory by default)
(`make run` runs the bank load simulation instead: bin/loadsim.)
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from actors.client import Encore
from actors.system.launch import DEFAULT_PORT
from examples import bank, orders, tasks, users
from loadsim import smtp

ROOT = Path(__file__).resolve().parent.parent


def encore(*args: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "bin" / "encore"), *args], check=True, cwd=ROOT)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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


def users_part(client: Encore, inbox) -> None:
    print("users")
    client.ask(users.CreateUser(user_id="u1", name="Ada", email="ada@example.org"))
    show("create u1 again ->", client.ask(users.CreateUser(user_id="u1", name="A", email="a@b.co")).code)
    try:
        client.ask_raw("CreateUser", {"user_id": "u2", "name": "", "email": "not-an-email"})
    except Exception as e:  # the point of this line is to show the error a user gets
        show("create with blank name, bad email ->", str(e)[:90] + "...")
    client.ask(users.UpdateUser(user_id="u1", email="ada@lovelace.org"))
    client.ask(users.CreateUser(user_id="u3", name="Eve", email="ADA@lovelace.org"))
    owner = wait_for(lambda: client.query(users.GetUserByEmail(email="ada@lovelace.org")))   # the claim follows
    show("user by new email (claimed)", owner)
    show("u3 with u1's address", wait_for(lambda: client.query(users.GetUser(user_id="u3")).get("email_taken") and
                                          client.query(users.GetUser(user_id="u3"))))
    show("welcome emails received", wait_for(lambda: [m["To"] for m in inbox.messages if len(inbox.messages) >= 2]))


def wait_for(check, seconds: float = 10.0):
    """What `check()` gives once it gives something (the claims and emails follow the commands)."""
    deadline = time.monotonic() + seconds
    while not (found := check()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


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
    controller, inbox = smtp.start(free_port())   # the welcome emails' server
    os.environ["ENCORE_SMTP"] = f"127.0.0.1:{controller.port}"
    encore("start", "--data", str(data), "--port", str(args.port))
    try:
        with Encore.attach(data) as client:
            tasks_part(client)
            users_part(client, inbox)
            orders_part(client)
            bank_part(client)
        encore("status", "--data", str(data))
    finally:
        encore("stop", "--data", str(data))
        controller.stop()
        if args.data is None:
            shutil.rmtree(data.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
