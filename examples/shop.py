"""The shop: orders, the bank's accounts and an inventory of products working together.

Placing an order starts a saga (the `checkout` reactor):

    ShopOrderPlaced  -> ReserveStock, and a deadline: cancel if not paid within PAY_WITHIN_S
    StockReserved    -> Withdraw the price from the customer's bank account
    Withdraw accepted-> MarkPaid                      rejected -> ReleaseStock, CancelShopOrder
    ReserveStock rejected (out of stock)              -> CancelShopOrder
    ShopOrderPaid    -> SellStock, ConfirmShopOrder, cancel the deadline
    MarkPaid rejected (the deadline cancelled it)     -> refund (Deposit), ReleaseStock
    ShopOrderCancelled "not paid in time"             -> ReleaseStock

Every new account gets a welcome email (the `welcome` reactor's effect), by SMTP to the server
named by ENCORE_SMTP (host:port, default 127.0.0.1:8025), with the effect's key in its Message-ID.
Stock is conserved (added = available + reserved + sold) and money too (deposits = balances +
the shop's takings).
"""

from __future__ import annotations

import os

from pydantic import Field

from actors import (
    Aggregate,
    App,
    CancelDeadline,
    Command,
    Deadline,
    DomainError,
    Event,
    Projection,
    Query,
    Reactor,
    answers,
    applies,
    effect,
    handles,
    on_accepted,
    on_rejected,
    reacts,
)

from . import bank
from .bank import AccountOpened, Deposit, Withdraw
from .mail import send_email

PAY_WITHIN_S = float(os.environ.get("ENCORE_SHOP_PAY_WITHIN_S", "30"))
Name = Field(min_length=1, max_length=100)


# ---------------------------------------------------------------- inventory


class AddStock(Command):
    encore_target = "product_id"
    product_id: str = Name
    quantity: int = Field(gt=0, le=10**9)


class ReserveStock(Command):
    encore_target = "product_id"
    product_id: str = Name
    order_id: str = Name
    quantity: int = Field(gt=0, le=10**9)


class ReleaseStock(Command):
    encore_target = "product_id"
    product_id: str = Name
    order_id: str = Name


class SellStock(Command):
    encore_target = "product_id"
    product_id: str = Name
    order_id: str = Name


class StockAdded(Event):
    product_id: str
    quantity: int


class StockReserved(Event):
    product_id: str
    order_id: str
    quantity: int


class StockReleased(Event):
    product_id: str
    order_id: str
    quantity: int


class StockSold(Event):
    product_id: str
    order_id: str
    quantity: int


class Product(Aggregate):
    encore_type = "product"

    def __init__(self):
        self.available = 0
        self.reserved: dict[str, int] = {}

    @handles(AddStock)
    def add(self, c):
        return [StockAdded(product_id=c.product_id, quantity=c.quantity)]

    @handles(ReserveStock)
    def reserve(self, c):
        if c.order_id in self.reserved:
            raise DomainError("already_reserved", f"order {c.order_id} already holds stock of {c.product_id}")
        if c.quantity > self.available:
            raise DomainError("out_of_stock", f"{c.product_id}: {self.available} available, {c.quantity} asked")
        return [StockReserved(product_id=c.product_id, order_id=c.order_id, quantity=c.quantity)]

    @handles(ReleaseStock)
    def release(self, c):
        return [StockReleased(product_id=c.product_id, order_id=c.order_id, quantity=self._held(c.order_id))]

    @handles(SellStock)
    def sell(self, c):
        return [StockSold(product_id=c.product_id, order_id=c.order_id, quantity=self._held(c.order_id))]

    def _held(self, order_id: str) -> int:
        if order_id not in self.reserved:
            raise DomainError("not_reserved", f"order {order_id} holds no stock here")
        return self.reserved[order_id]

    @applies(StockAdded)
    def _added(self, e):
        self.available += e.quantity

    @applies(StockReserved)
    def _reserved(self, e):
        self.available -= e.quantity
        self.reserved[e.order_id] = e.quantity

    @applies(StockReleased)
    def _released(self, e):
        self.available += self.reserved.pop(e.order_id)

    @applies(StockSold)
    def _sold(self, e):
        del self.reserved[e.order_id]


# ---------------------------------------------------------------- orders


class PlaceShopOrder(Command):
    encore_target = "order_id"
    order_id: str = Name
    customer: str = Name          # the bank account that pays
    product_id: str = Name
    quantity: int = Field(gt=0, le=10**6)
    price: int = Field(gt=0, le=10**6)   # per item, in the bank's units


class MarkPaid(Command):
    encore_target = "order_id"
    order_id: str = Name


class ConfirmShopOrder(Command):
    encore_target = "order_id"
    order_id: str = Name


class CancelShopOrder(Command):
    encore_target = "order_id"
    order_id: str = Name
    reason: str = Field(max_length=200)


class ShopOrderPlaced(Event):
    order_id: str
    customer: str
    product_id: str
    quantity: int
    amount: int


class ShopOrderPaid(Event):
    order_id: str
    amount: int


class ShopOrderConfirmed(Event):
    order_id: str


class ShopOrderCancelled(Event):
    order_id: str
    reason: str


class ShopOrder(Aggregate):
    encore_type = "shop-order"

    def __init__(self):
        self.status = "new"

    @handles(PlaceShopOrder)
    def place(self, c):
        if self.status != "new":
            raise DomainError("order_exists", f"order {c.order_id} was placed already")
        return [ShopOrderPlaced(order_id=c.order_id, customer=c.customer, product_id=c.product_id,
                                quantity=c.quantity, amount=c.quantity * c.price)]

    @handles(MarkPaid)
    def paid(self, c):
        self._must_be("placed", c.order_id, "paid")
        return [ShopOrderPaid(order_id=c.order_id, amount=self.amount)]

    @handles(ConfirmShopOrder)
    def confirm(self, c):
        self._must_be("paid", c.order_id, "confirmed")
        return [ShopOrderConfirmed(order_id=c.order_id)]

    @handles(CancelShopOrder)
    def cancel(self, c):
        self._must_be("placed", c.order_id, "cancelled")
        return [ShopOrderCancelled(order_id=c.order_id, reason=c.reason)]

    def _must_be(self, status: str, order_id: str, becoming: str) -> None:
        if self.status != status:
            raise DomainError("invalid_transition", f"order {order_id} is {self.status}; it cannot be {becoming}")

    @applies(ShopOrderPlaced)
    def _placed(self, e):
        self.status, self.amount = "placed", e.amount

    @applies(ShopOrderPaid)
    def _paid(self, e):
        self.status = "paid"

    @applies(ShopOrderConfirmed)
    def _confirmed(self, e):
        self.status = "confirmed"

    @applies(ShopOrderCancelled)
    def _cancelled(self, e):
        self.status = "cancelled"


# ---------------------------------------------------------------- the saga


class Checkout(Reactor):
    encore_name = "checkout"

    def __init__(self):
        self.orders: dict[str, dict] = {}   # order id -> customer, product, amount (what the saga needs later)

    @reacts(ShopOrderPlaced)
    def placed(self, e, stored):
        self.orders[e.order_id] = {"customer": e.customer, "product": e.product_id, "amount": e.amount}
        return [ReserveStock(product_id=e.product_id, order_id=e.order_id, quantity=e.quantity),
                Deadline(f"pay:{e.order_id}", PAY_WITHIN_S,
                         CancelShopOrder(order_id=e.order_id, reason="not paid in time"))]

    @reacts(StockReserved)
    def reserved(self, e, stored):
        order = self.orders.get(e.order_id)
        return [Withdraw(account_id=order["customer"], amount=order["amount"])] if order else []

    @on_rejected(ReserveStock)
    def out_of_stock(self, command, code, message, stored):
        return [CancelShopOrder(order_id=command.order_id, reason=code), CancelDeadline(f"pay:{command.order_id}")]

    @on_accepted(Withdraw)
    def charged(self, command, events, stored):
        order_id = stored.data["order_id"]
        if order_id in self.orders:
            self.orders[order_id]["charged"] = True   # from now on a cancel means a refund
        return [MarkPaid(order_id=order_id)]

    @on_rejected(Withdraw)
    def refused(self, command, code, message, stored):
        order_id = stored.data["order_id"]
        return [ReleaseStock(product_id=stored.data["product_id"], order_id=order_id),
                CancelShopOrder(order_id=order_id, reason=code), CancelDeadline(f"pay:{order_id}")]

    @reacts(ShopOrderPaid)
    def paid(self, e, stored):
        order = self.orders.pop(e.order_id, None) or {}
        return [SellStock(product_id=order.get("product", ""), order_id=e.order_id),
                ConfirmShopOrder(order_id=e.order_id), CancelDeadline(f"pay:{e.order_id}")] if order else []

    @on_rejected(MarkPaid)
    def paid_too_late(self, command, code, message, stored):
        order = self.orders.pop(command.order_id, None)
        if not order:
            return []
        return [Deposit(account_id=order["customer"], amount=order["amount"]),
                ReleaseStock(product_id=order["product"], order_id=command.order_id)]

    @reacts(ShopOrderCancelled)
    def cancelled(self, e, stored):
        order = self.orders.get(e.order_id)
        if order is None or order.get("charged"):
            return []   # a charged order's MarkPaid is refused: paid_too_late refunds and releases
        del self.orders[e.order_id]
        if e.reason == "not paid in time":
            return [ReleaseStock(product_id=order["product"], order_id=e.order_id)]
        return []


class Welcome(Reactor):
    encore_name = "welcome"
    encore_start = "head"   # added to a system with customers, it welcomes the new ones only

    @effect(AccountOpened)
    def email(self, e, stored, key):
        send_email(sender="shop@encore.invalid", to=f"{e.account_id}@customers.invalid",
                   subject=f"Welcome, {e.owner}", key=key,
                   body=f"Welcome to the shop, {e.owner}. Your account is {e.account_id}.")


# ---------------------------------------------------------------- views


class GetShopOrder(Query):
    order_id: str = Name


class GetStock(Query):
    product_id: str = Name


class GetShopSummary(Query):
    pass


class ShopView(Projection):
    encore_name = "shop"

    def __init__(self):
        self.orders: dict[str, dict] = {}
        self.stock: dict[str, dict] = {}

    @applies(ShopOrderPlaced)
    def _placed(self, e, stored):
        self.orders[e.order_id] = {"status": "placed", "amount": e.amount, "customer": e.customer}

    @applies(ShopOrderPaid)
    def _paid(self, e, stored):
        self.orders[e.order_id]["status"] = "paid"

    @applies(ShopOrderConfirmed)
    def _confirmed(self, e, stored):
        self.orders[e.order_id]["status"] = "confirmed"

    @applies(ShopOrderCancelled)
    def _cancelled(self, e, stored):
        self.orders[e.order_id].update(status="cancelled", reason=e.reason)

    def _product(self, product_id: str) -> dict:
        return self.stock.setdefault(product_id, {"added": 0, "available": 0, "reserved": 0, "sold": 0})

    @applies(StockAdded)
    def _stock_added(self, e, stored):
        product = self._product(e.product_id)
        product["added"] += e.quantity
        product["available"] += e.quantity

    @applies(StockReserved)
    def _stock_reserved(self, e, stored):
        product = self._product(e.product_id)
        product["available"] -= e.quantity
        product["reserved"] += e.quantity

    @applies(StockReleased)
    def _stock_released(self, e, stored):
        product = self._product(e.product_id)
        product["available"] += e.quantity
        product["reserved"] -= e.quantity

    @applies(StockSold)
    def _stock_sold(self, e, stored):
        product = self._product(e.product_id)
        product["reserved"] -= e.quantity
        product["sold"] += e.quantity

    @answers(GetShopOrder)
    def order(self, q):
        return self.orders.get(q.order_id)

    @answers(GetStock)
    def product(self, q):
        return self.stock.get(q.product_id)

    @answers(GetShopSummary)
    def summary(self, q):
        counts: dict[str, int] = {}
        for order in self.orders.values():
            counts[order["status"]] = counts.get(order["status"], 0) + 1
        takings = sum(o["amount"] for o in self.orders.values() if o["status"] == "confirmed")
        return {"orders": len(self.orders), "by_status": counts, "takings": takings}


app = App("shop", aggregates=[*bank.app.aggregates.values(), Product, ShopOrder],
          projections=[*bank.app.projections.values(), ShopView], reactors=[Checkout, Welcome])
