"""The shop workload: customers with bank accounts, products in stock, and orders placed at once
from every client; the checkout saga (a reactor) settles each order, and every new customer gets
a welcome email from an SMTP server this workload runs on 127.0.0.1 (aiosmtpd).

A placed order is always accepted; what the saga makes of it (confirmed or cancelled) depends on
which orders reach the shared stock and money first, so the model checks what must hold whatever
the interleaving: every order settled, stock conserved (added = available + reserved + sold, with
nothing left reserved), money conserved (deposits = balances + the shop's takings), one distinct
email per customer (the same Message-ID twice on the wire is allowed and counted), nothing parked.
"""

from __future__ import annotations

import random
from typing import Any

from actors.client import Encore
from examples import bank, shop

from .mailing import MailingWorkload
from .workload import Plan, Step

PRODUCTS = 20


class ShopWorkload(MailingWorkload):
    name = "shop"
    app = shop.app
    app_path = "examples.shop:app"
    default_entities, default_commands = 500, 5_000
    quick_entities, quick_commands = 50, 300
    default_reads = 0

    def customer(self, i: int) -> str:
        return f"{self.prefix}customer-{i}"

    def plan(self) -> Plan:
        rng = random.Random(self.seed)
        setup: list[Step] = []
        deposits = {self.customer(i): rng.choice([0, 50, 200, 1_000]) for i in range(self.entities)}
        stock = {f"{self.prefix}product-{p}": rng.randint(20, 200) for p in range(PRODUCTS)}
        for customer, amount in deposits.items():
            setup.append(Step(bank.OpenAccount(account_id=customer, owner=customer), customer, "accepted"))
            if amount:
                setup.append(Step(bank.Deposit(account_id=customer, amount=amount), customer, "accepted"))
        for product, quantity in stock.items():
            setup.append(Step(shop.AddStock(product_id=product, quantity=quantity), product, "accepted"))
        main = []
        for n in range(self.commands):
            order = f"{self.prefix}order-{n}"
            command = shop.PlaceShopOrder(order_id=order, customer=self.customer(rng.randrange(self.entities)),
                                          product_id=rng.choice(list(stock)), quantity=rng.randint(1, 3),
                                          price=rng.randint(5, 60))
            main.append(Step(command, order, "accepted", observe=True))
        return Plan(setup, main, {"deposits": deposits, "stock": stock, "orders": self.commands})

    def query_for(self, key: str) -> shop.GetShopOrder:
        return shop.GetShopOrder(order_id=key)

    def observed(self, answer: Any) -> Any:
        return answer is not None

    # ---------------------------------------------------------------- the end

    def settle(self, client: Encore, plan: Plan) -> dict[str, Any]:
        """Wait until every saga and email is done (or the deadline); the figures of the end."""
        customers = len(plan.model["deposits"])
        self.wait_for_reactors(client, customers, lambda: self._summary(client)["by_status"].keys() <= {
            "confirmed", "cancelled"})
        status = self._summary(client)["by_status"]
        return {
            "sagas": {"orders": plan.model["orders"], "completed": status.get("confirmed", 0),
                      "cancelled": status.get("cancelled", 0),
                      "unfinished": plan.model["orders"] - status.get("confirmed", 0) - status.get("cancelled", 0)},
            "effects": self.effects(client, customers),
        }

    def _summary(self, client: Encore) -> dict:
        return client.query(shop.GetShopSummary(), timeout=30)

    def check_views(self, views, plan, *, whole_log):
        found: list[str] = []
        view, balances = views["shop"], views["balances"]
        mine = {k: v for k, v in view.orders.items() if k.startswith(f"{self.prefix}order-")}
        unfinished = [k for k, v in mine.items() if v["status"] not in ("confirmed", "cancelled")]
        if len(mine) != plan.model["orders"] or unfinished:
            found.append(f"orders: {len(mine)} of {plan.model['orders']} in the view, unfinished: {unfinished[:5]}")
        for product, added in plan.model["stock"].items():
            seen = view.stock.get(product, {})
            if seen.get("added") != added or seen.get("reserved") or \
                    seen.get("available", 0) + seen.get("sold", 0) != added:
                found.append(f"stock of {product}: {added} added, the view holds {seen}")
        takings = sum(o["amount"] for o in mine.values() if o["status"] == "confirmed")
        held = sum(balances.balances.get(c, 0) for c in plan.model["deposits"])
        deposited = sum(plan.model["deposits"].values())
        if held + takings != deposited:
            found.append(f"money: {deposited} deposited, {held} in the accounts + {takings} taken = {held + takings}")
        return found, {"orders": len(mine), "products": len(plan.model["stock"]), "deposited": deposited,
                       "takings": takings}
