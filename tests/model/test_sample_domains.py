"""Given/when/then tests of the tasks, users and orders aggregates, with the kit users get
(actors.testing)."""

import pytest
from pydantic import ValidationError

from actors.testing import given, given_reactor
from examples import orders, tasks, users

ADDED = tasks.TaskAdded(task_id="t", description="d")
DONE = tasks.TaskCompleted(task_id="t")


def test_tasks_complete_reopen_and_their_refusals():
    given(tasks.Task).when(tasks.AddTask(task_id="t", description="d")).then(ADDED)
    given(tasks.Task, ADDED).when(tasks.AddTask(task_id="t", description="d")).then_rejected("task_already_exists")
    given(tasks.Task).when(tasks.CompleteTask(task_id="t")).then_rejected("task_not_found")
    given(tasks.Task, ADDED, DONE).when(tasks.CompleteTask(task_id="t")).then_rejected("task_already_completed")
    given(tasks.Task, ADDED, DONE).when(tasks.ReopenTask(task_id="t")).then(tasks.TaskReopened(task_id="t"))
    given(tasks.Task, ADDED).when(tasks.ReopenTask(task_id="t")).then_rejected("task_not_completed")


CREATED = users.UserCreated(user_id="u", name="Ada", email="ada@x.org")


def test_users_are_unique_and_update_partially():
    given(users.User, CREATED).when(users.CreateUser(user_id="u", name="B", email="b@x.org")) \
        .then_rejected("user_already_exists")
    given(users.User).when(users.UpdateUser(user_id="u", name="B")).then_rejected("user_not_found")
    user = given(users.User, CREATED, users.UserUpdated(user_id="u", email="new@x.org")).aggregate
    assert (user.name, user.email) == ("Ada", "new@x.org")


def test_an_email_claim_has_one_owner_and_only_its_owner_releases_it():
    claimed = users.EmailClaimed(email="ada@x.org", user_id="u")
    given(users.EmailClaim).when(users.ClaimEmail(email="ada@x.org", user_id="u", version=1)).then(claimed)
    given(users.EmailClaim, claimed).when(users.ClaimEmail(email="ada@x.org", user_id="v", version=1)) \
        .then_rejected("email_taken")
    given(users.EmailClaim, claimed).when(users.ClaimEmail(email="ada@x.org", user_id="u", version=3)).then()
    given(users.EmailClaim, claimed).when(users.ReleaseEmail(email="ada@x.org", user_id="v")).then()
    released = users.EmailReleased(email="ada@x.org", user_id="u")
    given(users.EmailClaim, claimed).when(users.ReleaseEmail(email="ada@x.org", user_id="u")).then(released)
    given(users.EmailClaim, claimed, released).when(users.ClaimEmail(email="ada@x.org", user_id="v", version=1)) \
        .then(users.EmailClaimed(email="ada@x.org", user_id="v"))


def test_a_user_is_told_its_email_is_taken_only_while_it_still_asks_for_that_address():
    given(users.User, CREATED).when(users.MarkEmailTaken(user_id="u", email="ada@x.org")) \
        .then(users.UserEmailTaken(user_id="u", email="ada@x.org"))
    moved = users.UserUpdated(user_id="u", email="Other@x.org")
    given(users.User, CREATED, moved).when(users.MarkEmailTaken(user_id="u", email="ada@x.org")).then()


def test_the_claims_saga_claims_each_new_address_and_releases_the_one_held_before():
    saga = given_reactor(users.EmailClaims)
    saga.when(users.UserCreated(user_id="u", name="A", email=" Ada@X.org")) \
        .then_sends(users.ClaimEmail(email="ada@x.org", user_id="u", version=1))
    first = users.ClaimEmail(email="ada@x.org", user_id="u", version=1)
    saga.when_accepted(first, CREATED).then_sends()
    later = users.ClaimEmail(email="new@x.org", user_id="u", version=3)
    saga.when_accepted(later, CREATED).then_sends(users.ReleaseEmail(email="ada@x.org", user_id="u"))
    stale = users.ClaimEmail(email="mid@x.org", user_id="u", version=2)   # accepted after a later one
    saga.when_accepted(stale, CREATED).then_sends(users.ReleaseEmail(email="mid@x.org", user_id="u"))
    taken = users.ClaimEmail(email="ann@x.org", user_id="v", version=1)
    saga.when_rejected(taken, "email_taken", CREATED).then_sends(users.MarkEmailTaken(user_id="v", email="ann@x.org"))


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
    given(orders.Order).when(orders.PlaceOrder(order_id="o", items=ITEMS)).then(PLACED)
    given(orders.Order).when(orders.PayOrder(order_id="o")).then_rejected("order_not_found")
    given(orders.Order, PLACED).when(orders.ShipOrder(order_id="o")).then_rejected("invalid_transition")
    paid = (PLACED, orders.OrderPaid(order_id="o", amount_cents=300))
    given(orders.Order, *paid).when(orders.CancelOrder(order_id="o")) \
        .then(orders.OrderCancelled(order_id="o", reason="", refund_cents=300))
    shipped = (*paid, orders.OrderShipped(order_id="o"))
    given(orders.Order, *shipped).when(orders.CancelOrder(order_id="o")).then_rejected("invalid_transition")
    given(orders.Order, *shipped).when(orders.DeliverOrder(order_id="o")).then(orders.OrderDelivered(order_id="o"))


def test_an_order_needs_items_with_positive_quantities():
    with pytest.raises(ValidationError):
        orders.PlaceOrder(order_id="o", items=[])
    with pytest.raises(ValidationError):
        orders.OrderItem(sku="s", quantity=0, price_cents=1)
