"""The e-commerce workload: orders through full life cycles (placed, paid, shipped, delivered, or
cancelled on the way), interleaved across orders, with a share of invalid transitions the domain
must reject (delivering before shipping, paying twice, anything after the end)."""

from __future__ import annotations

import random
from typing import Any

from examples import orders

from .workload import Plan, Step, Workload, differences

NEXT = {"none": "place", "placed": "pay", "paid": "ship", "shipped": "deliver"}
ALLOWED = orders.TRANSITIONS
AFTER = {"pay": "paid", "ship": "shipped", "deliver": "delivered", "cancel": "cancelled"}
COMMANDS = {"pay": orders.PayOrder, "ship": orders.ShipOrder, "deliver": orders.DeliverOrder,
            "cancel": orders.CancelOrder}
INVALID_SHARE, CANCEL_SHARE = 0.08, 0.1


class OrdersWorkload(Workload):
    name = "orders"
    app = orders.app
    app_path = "examples.orders:app"
    default_entities, default_commands = 5_000, 20_000
    quick_entities, quick_commands = 500, 2_000

    def order(self, i: int) -> str:
        return f"{self.prefix}order-{i}"

    def plan(self) -> Plan:
        rng, main, revenue = random.Random(self.seed), [], 0
        model: dict[str, Any] = {}
        for _ in range(self.commands):
            key = self.order(rng.randrange(self.entities))
            order = model.setdefault(key, {"order_id": key, "status": "none", "total_cents": 0})
            action = self._action(rng, order["status"])
            if action == "place":
                items = [orders.OrderItem(sku=f"sku-{rng.randrange(100)}", quantity=rng.randint(1, 5),
                                          price_cents=rng.randint(100, 10_000)) for _ in range(rng.randint(1, 3))]
                order.update(status="placed", total_cents=sum(i.quantity * i.price_cents for i in items))
                main.append(Step(orders.PlaceOrder(order_id=key, items=items), key, "accepted", observe="placed"))
                continue
            command = COMMANDS[action](order_id=key)
            if order["status"] not in ALLOWED[action]:
                code = "order_not_found" if order["status"] == "none" else "invalid_transition"
                main.append(Step(command, key, "rejected", code, observe=_shown(order["status"])))
                continue
            revenue += order["total_cents"] if action == "pay" else 0
            revenue -= order["total_cents"] if action == "cancel" and order["status"] == "paid" else 0
            order["status"] = AFTER[action]
            main.append(Step(command, key, "accepted", observe=order["status"]))
        placed = {k: v for k, v in model.items() if v["status"] != "none"}
        return Plan([], main, {"orders": placed, "revenue_cents": revenue})

    @staticmethod
    def _action(rng: random.Random, status: str) -> str:
        roll = rng.random()
        if roll < INVALID_SHARE:
            return rng.choice(["pay", "ship", "deliver", "cancel"])   # whatever the status: often invalid
        if status in ("placed", "paid") and roll < INVALID_SHARE + CANCEL_SHARE:
            return "cancel"
        return NEXT.get(status, "pay")     # a finished order: paying it again is rejected

    def query_for(self, key: str) -> orders.GetOrderStatus:
        return orders.GetOrderStatus(order_id=key)

    def observed(self, answer: Any) -> Any:
        return answer["status"] if answer else None

    def check_views(self, views, plan, *, whole_log):
        view, expected = views["order_status"], plan.model["orders"]
        actual = {k: v for k, v in view.orders.items() if k.startswith(f"{self.prefix}order-")}
        found = differences("order", expected, actual)
        compared = {"orders": len(expected)}
        if whole_log:
            if view.revenue_cents != plan.model["revenue_cents"]:
                found.append(f"revenue: model says {plan.model['revenue_cents']}, view says {view.revenue_cents}")
            compared["revenue_cents"] = plan.model["revenue_cents"]
        return found, compared


def _shown(status: str) -> str | None:
    return None if status == "none" else status
