"""E-commerce orders: place, pay, ship, deliver, cancel, with a state machine; views: status by id,
orders by status, revenue (amounts in cents)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from actors import Aggregate, App, Command, DomainError, Event, Projection, Query, answers, applies, handles

# which statuses each command may leave from
TRANSITIONS = {"pay": {"placed"}, "ship": {"paid"}, "deliver": {"shipped"}, "cancel": {"placed", "paid"}}


class OrderItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    sku: str = Field(min_length=1, max_length=100)
    quantity: int = Field(gt=0, le=10_000)
    price_cents: int = Field(ge=0, le=10**9)


class PlaceOrder(Command):
    encore_target = "order_id"
    order_id: str = Field(min_length=1, max_length=100)
    items: list[OrderItem] = Field(min_length=1, max_length=100)


class PayOrder(Command):
    encore_target = "order_id"
    order_id: str = Field(min_length=1, max_length=100)


class ShipOrder(Command):
    encore_target = "order_id"
    order_id: str = Field(min_length=1, max_length=100)


class DeliverOrder(Command):
    encore_target = "order_id"
    order_id: str = Field(min_length=1, max_length=100)


class CancelOrder(Command):
    encore_target = "order_id"
    order_id: str = Field(min_length=1, max_length=100)
    reason: str = Field(default="", max_length=500)


class OrderPlaced(Event):
    order_id: str
    items: list[OrderItem]
    total_cents: int


class OrderPaid(Event):
    order_id: str
    amount_cents: int


class OrderShipped(Event):
    order_id: str


class OrderDelivered(Event):
    order_id: str


class OrderCancelled(Event):
    order_id: str
    reason: str
    refund_cents: int


class Order(Aggregate):
    encore_type = "order"

    def __init__(self) -> None:
        self.status = "none"
        self.total_cents = 0

    def _move(self, action: str, order_id: str) -> None:
        if self.status == "none":
            raise DomainError("order_not_found", f"order {order_id} was never placed")
        if self.status not in TRANSITIONS[action]:
            raise DomainError("invalid_transition", f"order {order_id} is {self.status}; it cannot {action}")

    @handles(PlaceOrder)
    def place(self, c: PlaceOrder) -> list[Event]:
        if self.status != "none":
            raise DomainError("order_already_placed", f"order {c.order_id} is already {self.status}")
        total = sum(i.quantity * i.price_cents for i in c.items)
        return [OrderPlaced(order_id=c.order_id, items=c.items, total_cents=total)]

    @handles(PayOrder)
    def pay(self, c: PayOrder) -> list[Event]:
        self._move("pay", c.order_id)
        return [OrderPaid(order_id=c.order_id, amount_cents=self.total_cents)]

    @handles(ShipOrder)
    def ship(self, c: ShipOrder) -> list[Event]:
        self._move("ship", c.order_id)
        return [OrderShipped(order_id=c.order_id)]

    @handles(DeliverOrder)
    def deliver(self, c: DeliverOrder) -> list[Event]:
        self._move("deliver", c.order_id)
        return [OrderDelivered(order_id=c.order_id)]

    @handles(CancelOrder)
    def cancel(self, c: CancelOrder) -> list[Event]:
        self._move("cancel", c.order_id)
        refund = self.total_cents if self.status == "paid" else 0
        return [OrderCancelled(order_id=c.order_id, reason=c.reason, refund_cents=refund)]

    @applies(OrderPlaced)
    def _placed(self, e: OrderPlaced) -> None:
        self.status, self.total_cents = "placed", e.total_cents

    @applies(OrderPaid)
    def _paid(self, e: OrderPaid) -> None:
        self.status = "paid"

    @applies(OrderShipped)
    def _shipped(self, e: OrderShipped) -> None:
        self.status = "shipped"

    @applies(OrderDelivered)
    def _delivered(self, e: OrderDelivered) -> None:
        self.status = "delivered"

    @applies(OrderCancelled)
    def _cancelled(self, e: OrderCancelled) -> None:
        self.status = "cancelled"


class GetOrderStatus(Query):
    order_id: str


class ListOrdersByStatus(Query):
    status: str


class GetRevenue(Query):
    pass


class OrderStatusView(Projection):
    encore_name = "order_status"

    def __init__(self) -> None:
        self.orders: dict[str, dict] = {}
        self.revenue_cents = 0

    def _set(self, order_id: str, status: str) -> None:
        self.orders[order_id]["status"] = status

    @applies(OrderPlaced)
    def _placed(self, e: OrderPlaced, stored) -> None:
        self.orders[e.order_id] = {"order_id": e.order_id, "status": "placed", "total_cents": e.total_cents}

    @applies(OrderPaid)
    def _paid(self, e: OrderPaid, stored) -> None:
        self._set(e.order_id, "paid")
        self.revenue_cents += e.amount_cents

    @applies(OrderShipped)
    def _shipped(self, e: OrderShipped, stored) -> None:
        self._set(e.order_id, "shipped")

    @applies(OrderDelivered)
    def _delivered(self, e: OrderDelivered, stored) -> None:
        self._set(e.order_id, "delivered")

    @applies(OrderCancelled)
    def _cancelled(self, e: OrderCancelled, stored) -> None:
        self._set(e.order_id, "cancelled")
        self.revenue_cents -= e.refund_cents

    @answers(GetOrderStatus)
    def order_status(self, q: GetOrderStatus) -> dict | None:
        return self.orders.get(q.order_id)

    @answers(ListOrdersByStatus)
    def by_status(self, q: ListOrdersByStatus) -> dict:
        return {"status": q.status, "orders": sorted(o for o, v in self.orders.items() if v["status"] == q.status)}

    @answers(GetRevenue)
    def revenue(self, q: GetRevenue) -> dict:
        return {"revenue_cents": self.revenue_cents}


app = App("orders", aggregates=[Order], projections=[OrderStatusView])
