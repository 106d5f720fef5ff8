"""Given/when/then tests of the tasks, users and orders aggregates."""

import pytest
from pydantic import ValidationError

from actors import DomainError
from examples import orders, tasks, users


def given(aggregate_type, *events):
    aggregate = aggregate_type()
    for event in events:
        aggregate.apply(event)
    return aggregate


def refused(aggregate, command):
    with pytest.raises(DomainError) as e:
        aggregate.decide(command)
    return e.value.code


ADDED = tasks.TaskAdded(task_id="t", description="d")


def test_tasks_complete_reopen_and_their_refusals():
    assert given(tasks.Task).decide(tasks.AddTask(task_id="t", description="d")) == [ADDED]
    assert refused(given(tasks.Task, ADDED), tasks.AddTask(task_id="t", description="d")) == "task_already_exists"
    assert refused(given(tasks.Task), tasks.CompleteTask(task_id="t")) == "task_not_found"
    done = given(tasks.Task, ADDED, tasks.TaskCompleted(task_id="t"))
    assert refused(done, tasks.CompleteTask(task_id="t")) == "task_already_completed"
    assert done.decide(tasks.ReopenTask(task_id="t")) == [tasks.TaskReopened(task_id="t")]
    assert refused(given(tasks.Task, ADDED), tasks.ReopenTask(task_id="t")) == "task_not_completed"


CREATED = users.UserCreated(user_id="u", name="Ada", email="ada@x.org")


def test_users_are_unique_and_update_partially():
    assert refused(given(users.User, CREATED), users.CreateUser(user_id="u", name="B", email="b@x.org")) == \
        "user_already_exists"
    assert refused(given(users.User), users.UpdateUser(user_id="u", name="B")) == "user_not_found"
    user = given(users.User, CREATED, users.UserUpdated(user_id="u", email="new@x.org"))
    assert (user.name, user.email) == ("Ada", "new@x.org")


@pytest.mark.parametrize("fields", [
    {"user_id": "u", "name": "", "email": "a@b.co"},
    {"user_id": "u", "name": "   ", "email": "a@b.co"},
    {"user_id": "u", "name": "A", "email": "not-an-email"},
    {"user_id": "u", "name": "A"},
])
def test_users_need_a_name_and_a_well_formed_email(fields):
    with pytest.raises(ValidationError):
        users.CreateUser(**fields)


ITEMS = [orders.OrderItem(sku="s", quantity=2, price_cents=150)]
PLACED = orders.OrderPlaced(order_id="o", items=ITEMS, total_cents=300)


def test_orders_follow_their_state_machine():
    [placed] = given(orders.Order).decide(orders.PlaceOrder(order_id="o", items=ITEMS))
    assert placed.total_cents == 300
    assert refused(given(orders.Order), orders.PayOrder(order_id="o")) == "order_not_found"
    assert refused(given(orders.Order, PLACED), orders.ShipOrder(order_id="o")) == "invalid_transition"
    paid = given(orders.Order, PLACED, orders.OrderPaid(order_id="o", amount_cents=300))
    assert paid.decide(orders.CancelOrder(order_id="o"))[0].refund_cents == 300
    shipped = given(orders.Order, PLACED, orders.OrderPaid(order_id="o", amount_cents=300),
                    orders.OrderShipped(order_id="o"))
    assert refused(shipped, orders.CancelOrder(order_id="o")) == "invalid_transition"
    assert shipped.decide(orders.DeliverOrder(order_id="o")) == [orders.OrderDelivered(order_id="o")]


def test_an_order_needs_items_with_positive_quantities():
    with pytest.raises(ValidationError):
        orders.PlaceOrder(order_id="o", items=[])
    with pytest.raises(ValidationError):
        orders.OrderItem(sku="s", quantity=0, price_cents=1)
