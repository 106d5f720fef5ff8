"""The users domain keeps every email address to one user (a claim per normalized address,
released on change) and welcomes each new user by SMTP: embedded, and launched under many
concurrent clients."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from actors.client import Encore
from examples.users import CreateUser, GetUser, GetUserByEmail, UpdateUser, app
from storage import open_store
from tests.support.system_helpers import RunningSystem, free_port
from tests.support.waiting import wait_until


def _until(client, check, seconds=30):
    """`check()`'s answer once it is truthy; an embedded system runs its reactors meanwhile."""
    return wait_until(check, seconds=seconds, between=client.status)


def _owner(client, email):
    answer = client.query(GetUserByEmail(email=email))
    return answer and answer["user_id"]


def test_one_address_in_two_spellings_goes_to_the_first_user_and_moves_when_released(tmp_path, inbox):
    with Encore.embedded(app, tmp_path / "data") as client:
        client.ask(CreateUser(user_id="ann", name="Ann", email="same@x.test"))
        client.ask(CreateUser(user_id="bob", name="Bob", email="SAME@x.test"))
        second = _until(client, lambda: client.query(GetUser(user_id="bob")).get("email_taken"))
        assert second and _owner(client, "Same@X.test") == "ann"
        assert client.query(GetUser(user_id="ann")).get("email_taken") is None
        client.ask(UpdateUser(user_id="ann", email="ann@x.test"))   # ann moves: same@x.test is released
        _until(client, lambda: _owner(client, "same@x.test") is None and _owner(client, "ann@x.test") == "ann")
        client.ask(UpdateUser(user_id="bob", email="Same@x.test"))   # now bob may have it
        _until(client, lambda: _owner(client, "same@x.test") == "bob")
        assert client.query(GetUser(user_id="bob")) == {"user_id": "bob", "name": "Bob", "email": "Same@x.test"}
        _until(client, lambda: len(inbox.messages) >= 2)
    assert sorted(m["To"] for m in inbox.messages) == ["SAME@x.test", "same@x.test"]   # one each, as given
    assert len({m["Message-ID"] for m in inbox.messages}) == 2


@pytest.mark.slow
def test_of_many_clients_creating_users_with_one_address_at_once_exactly_one_wins(tmp_path, inbox):
    addresses, claimants = 5, 16
    system = RunningSystem(tmp_path / "data", free_port(), app="examples.users:app", extra_args=("--shards", "4"))
    try:
        with Encore.attach(tmp_path / "data") as client:
            def create(n):
                spelling = "".join(c.upper() if (n >> i) & 1 else c for i, c in enumerate("mail"))
                return client.ask(CreateUser(user_id=f"u{n}", name=f"U{n}", email=f"{spelling}{n % addresses}@x.test"))

            with ThreadPoolExecutor(claimants) as pool:   # every user at once, from many threads
                created = list(pool.map(create, range(addresses * claimants)))
            assert all(r.accepted for r in created)
            users = [f"u{n}" for n in range(addresses * claimants)]

            def settled():
                answers = [client.query(GetUser(user_id=u)) for u in users]
                taken = [a["user_id"] for a in answers if a.get("email_taken")]
                owners = {a: _owner(client, f"mail{a}@x.test") for a in range(addresses)}
                return (taken, owners) if len(taken) == len(users) - addresses and None not in owners.values() else None
            taken, owners = _until(client, settled, seconds=60)
            _until(client, lambda: len(inbox.messages) >= len(users), seconds=60)
    finally:
        system.stop()
    assert sorted(set(owners.values()) | set(taken)) == sorted(users)   # each user either owns or is told
    assert all(int(owner[1:]) % addresses == a for a, owner in owners.items())
    with open_store(tmp_path / "data" / "store") as store:
        claims = [e for e in store.read_log(after=0, limit=10_000) if e.type == "EmailClaimed"]
    assert sorted(e.data["email"] for e in claims) == [f"mail{a}@x.test" for a in range(addresses)]   # one each
    assert len({m["Message-ID"] for m in inbox.messages}) == len(users)
