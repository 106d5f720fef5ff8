"""AsyncEncore: Encore's surface, awaitable; concurrent single asks coalesced; the loop never blocked."""

import asyncio
import logging

import pytest

from actors.client import AsyncEncore
from actors.errors import CommandRejected, ValidationFailed
from examples.bank import Deposit, GetBalance, OpenAccount, Withdraw, app


def run(coroutine):
    """Run in a loop that reports every callback that held it for more than 50 ms."""
    async def watched():
        loop = asyncio.get_running_loop()
        loop.set_debug(True)
        loop.slow_callback_duration = 0.05
        return await coroutine
    return asyncio.run(watched())


@pytest.fixture
def slow_callbacks(caplog):
    caplog.set_level(logging.WARNING, logger="asyncio")
    yield lambda: [r.getMessage() for r in caplog.records if "took" in r.getMessage()]


def test_concurrent_single_asks_are_coalesced_and_each_caller_gets_its_own_result(tmp_path, slow_callbacks):
    async def scenario():
        async with AsyncEncore.embedded(app, tmp_path / "data") as encore:
            await encore.ask_many([OpenAccount(account_id=f"a{i}", owner="o") for i in range(50)])
            ids = [f"dep-{n}" for n in range(1000)]
            results = await asyncio.gather(*(encore.ask(Deposit(account_id=f"a{n % 50}", amount=1 + n % 7),
                                                        command_id=command_id) for n, command_id in enumerate(ids)))
            balance = await encore.query(GetBalance(account_id="a3"), after=max(r.position for r in results))
            return results, encore.batches_sent, balance, ids

    results, batches, balance, ids = run(scenario())
    assert [r.command_id for r in results] == ids and all(r.accepted for r in results)
    assert len({r.position for r in results}) == 1000
    assert batches < 100   # a thousand asks went in far fewer batches
    assert balance["balance"] == sum(1 + n % 7 for n in range(3, 1000, 50))
    assert slow_callbacks() == []


def test_a_retry_keeps_its_id_and_a_bad_command_fails_only_its_caller(tmp_path, slow_callbacks):
    async def scenario():
        async with AsyncEncore.embedded(app, tmp_path / "data") as encore:
            await encore.ask(OpenAccount(account_id="r", owner="o"))
            first = await encore.ask(Deposit(account_id="r", amount=5), command_id="once")
            again = await encore.ask(Deposit(account_id="r", amount=5), command_id="once")
            outcomes = await asyncio.gather(
                encore.ask(Deposit(account_id="r", amount=1)),
                encore.ask_raw("Deposit", {"account_id": "r", "amount": -1}),
                encore.ask(Withdraw(account_id="r", amount=10**6)),
                encore.ask(Deposit(account_id="r", amount=2)),
                return_exceptions=True)
            return first, again, outcomes, await encore.query(GetBalance(account_id="r"), after=first.position)

    first, again, outcomes, balance = run(scenario())
    assert again.duplicate and again.position == first.position
    assert outcomes[0].accepted and outcomes[3].accepted
    assert isinstance(outcomes[1], ValidationFailed) and "amount" in str(outcomes[1])
    assert outcomes[2].status == "rejected" and outcomes[2].code == "insufficient_funds"
    with pytest.raises(CommandRejected):
        outcomes[2].raise_for_status()
    assert balance["balance"] >= 5
    assert slow_callbacks() == []


def test_subscribe_is_an_async_iterator_over_the_log_in_order(tmp_path, slow_callbacks):
    async def scenario():
        async with AsyncEncore.embedded(app, tmp_path / "data") as encore:
            await encore.ask_many([OpenAccount(account_id=f"s{i}", owner="o") for i in range(20)])
            seen = []
            async for event in encore.subscribe(5):
                seen.append(event.offset)
                if event.offset == 20:
                    await encore.ask(Deposit(account_id="s0", amount=1))   # a live one
                if event.offset == 21:
                    break
            status = await encore.status()
            return seen, status

    seen, status = run(scenario())
    assert seen == list(range(6, 22)) and status["head_offset"] == 21
    assert slow_callbacks() == []


def test_bad_client_options_are_refused(tmp_path):
    async def scenario():
        async with AsyncEncore.embedded(app, tmp_path / "data", client_options={"max_batch": 0}):
            pass
    with pytest.raises(ValidationFailed, match="max_batch"):
        asyncio.run(scenario())


def test_the_web_handler_example_serves_deposits_and_reads_its_own_writes(tmp_path):
    from starlette.testclient import TestClient

    from examples.web_handler import create

    with TestClient(create(tmp_path / "data")) as web:
        assert web.post("/accounts/w1", json={"owner": "ann"}).status_code == 200
        deposited = web.post("/accounts/w1/deposits", json={"amount": 25}, headers={"Idempotency-Key": "d1"})
        again = web.post("/accounts/w1/deposits", json={"amount": 25}, headers={"Idempotency-Key": "d1"})
        assert deposited.json()["balance"] == 25 and again.json()["position"] == deposited.json()["position"]
        assert web.post("/accounts/w1/deposits", json={"amount": -5}).status_code == 422
        assert web.get("/accounts/w1").json()["balance"] == 25


def test_the_operations_are_awaitable_too(tmp_path):
    async def scenario():
        async with AsyncEncore.embedded(app, tmp_path / "data") as encore:
            await encore.ask(OpenAccount(account_id="ops", owner="o"))
            await encore.ask(Deposit(account_id="ops", amount=4))
            state = await encore.aggregate_state("account:ops", 1)
            paused = await encore.pause("balances-0")
            followers = await encore.followers()
            await encore.resume("balances-0")
            return state, paused, followers, await encore.parked()

    state, paused, followers, parked = run(scenario())
    assert state["state"]["balance"] == 0 and "paused at offset" in paused and parked == []
    assert next(f for f in followers if f["name"] == "balances-0")["state"] == "paused"


def test_identical_retries_sent_together_all_get_the_first_result(tmp_path):
    async def scenario():
        async with AsyncEncore.embedded(app, tmp_path / "data") as encore:
            await encore.ask(OpenAccount(account_id="twice", owner="o"))
            same = [encore.submit(Deposit(account_id="twice", amount=5), command_id="retry-1") for _ in range(30)]
            results = await asyncio.gather(*same)
            many = await encore.ask_many([Deposit(account_id="twice", amount=7)] * 3, command_ids=["retry-2"] * 3)
            balance = await encore.query(GetBalance(account_id="twice"), after=many[0].position)
            return results, many, balance

    results, many, balance = run(scenario())
    assert {r.status for r in results} == {"accepted"} and len({r.position for r in results}) == 1
    assert [r.status for r in many] == ["accepted"] * 3 and len({r.position for r in many}) == 1
    assert balance["balance"] == 12   # each applied once


def test_one_id_for_two_different_commands_in_one_batch_is_still_refused(tmp_path):
    from actors.client import Encore

    with Encore.embedded(app, tmp_path / "data") as encore:
        encore.ask(OpenAccount(account_id="clash", owner="o"))
        results = encore.ask_many([Deposit(account_id="clash", amount=1), Deposit(account_id="clash", amount=2)],
                                  command_ids=["same", "same"])
    assert [r.status for r in results] == ["accepted", "invalid"]
