"""Supervision on simpleSystemBase: restarts back off and never give up; status tells what is
known while an actor is down; an operator restarts a down actor at once."""

import pytest
from thespian.actors import ActorExitRequest

from actors.client import Encore
from actors.errors import Unavailable, ValidationFailed
from actors.system.supervisor import BACKOFF_CAP_S, CRASH_LOOP_RESTARTS, backoff_s
from examples.bank import Deposit, GetBalance, OpenAccount, app


def test_restarts_back_off_exponentially_up_to_the_cap():
    waits = [backoff_s(n) for n in range(1, 14)]
    assert waits[:4] == [0.1, 0.2, 0.4, 0.8]
    assert all(b >= a for a, b in zip(waits, waits[1:], strict=False)) and waits[-1] == BACKOFF_CAP_S


def _kill(encore, name):
    [entry] = [a for a in encore.status()["actors"] if a["name"] == name]
    address = encore.topology.shards[0] if name.startswith("shard") else encore.topology.views["balances"][0]
    encore._system.tell(address, ActorExitRequest())
    return entry


@pytest.fixture
def encore(tmp_path):
    with Encore.embedded(app, tmp_path) as e:
        yield e


@pytest.mark.slow
def test_a_crash_looping_shard_is_marked_kept_restarting_and_restarted_now_on_request(encore):
    opened = encore.ask(OpenAccount(account_id="a1", owner="ann"))
    for _ in range(CRASH_LOOP_RESTARTS + 2):
        encore.refresh_topology()
        while encore.topology.shards[0] is None:   # wait out the backoff: the supervisor restarts it
            encore._listen(encore._system, 0.05)
            encore.refresh_topology()
        _kill(encore, "shard-0")
    status = encore.status()
    [shard] = [a for a in status["actors"] if a["name"] == "shard-0"]
    assert (shard["running"], shard["crash_loop"], shard["answered"]) == (False, True, False)
    assert shard["restart_at"] is not None and "exited" in shard["last_error"]
    assert status["unanswered"] == ["shard-0"] and status["head_offset"] == opened.position  # last known
    encore.refresh_topology()
    with pytest.raises(Unavailable):
        encore.ask(Deposit(account_id="a1", amount=5))
    assert "restarting now" in encore.restart("shard-0")
    encore.refresh_topology()
    deposited = encore.ask(Deposit(account_id="a1", amount=5))
    assert encore.query(GetBalance(account_id="a1"), after=deposited.position)["balance"] == 5
    with pytest.raises(ValidationFailed, match="is running"):
        encore.restart("shard-0")
    with pytest.raises(ValidationFailed, match="no actor is named"):
        encore.restart("shard-9")


def test_status_keeps_a_down_views_last_checkpoint_and_lag(encore):
    encore.ask_many([OpenAccount(account_id=f"a{i}", owner="o") for i in range(5)])
    encore.view_digest("balances", after=5)
    _kill(encore, "balances-0")
    encore.ask(Deposit(account_id="a1", amount=5))
    status = encore.status()
    [view] = [a for a in status["actors"] if a["name"] == "balances-0"]
    if view["answered"]:  # restarted already (the first backoff is 0.1 s): it has caught up
        assert view["lag"] == 0 and view["checkpoint"] == 6
    else:
        assert (view["checkpoint"], view["lag"], view["running"]) == (5, 1, False)
    assert status["head_offset"] == 6
