"""`bin/bench-runtime`: the runtime's budgets that need a fixed shape rather than a load.

- activation: a bank account with 10,000 events is activated by a shard's host (its stream read,
  decoded and applied), without a snapshot and with one at the head; median of repeats.
- rebuild: a balances view folded from a log of 100,000 bank events by the projection's own code
  (ViewFollower.catch_up), from offset 0; median of repeats.
Each of those is measured in this process on a fresh LMDB store with durable commits.
- shard_path: the shard's own code (AggregateHost, no actors) deciding and committing the bank
  workload's commands in batches of 100 against 10,000 open accounts; microseconds per command,
  median and best of chunks of 5,000 commands. What a launched shard adds is Thespian's transport
  and the other processes' share of the cores.
- reactor_fold: a reactor that sends nothing (ReactorRunner over the rebuild's 100,000 events).
- reaction: from an order's commit to the checkout reactor's command committed (launched shop).
- push: how soon a commit reaches a view and a subscriber by itself (pushed notices, no after=),
  on a launched system: p50 and p99 in milliseconds.
- roundtrip: Thespian's transport alone: a client of a launched system asks a shard for a reply
  that does no work (Flush), one at a time; what every ask pays on top of the shard's work.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

from actors.client import Encore
from actors.errors import AskTimeout, EncoreError
from actors.followers.reactor_runner import ReactorRunner
from actors.followers.view_fold import ViewFollower, latency_summary_ms
from actors.model.app import App
from actors.model.domain import Reactor, plain_fields, reacts
from actors.process.settings import Settings
from actors.protocol.messages import Flush, Flushed
from actors.shard.aggregate_host import AggregateHost
from examples import bank, shop
from storage import AppendEntry, NewEvent, Snapshot, open_store

from .bank import BankWorkload
from .systems import launched, launched_app

ACTIVATION_EVENTS = 10_000
REBUILD_EVENTS = 100_000
BATCH = 1_000
SHARD_CHUNK = 5_000  # commands timed together in the shard-path figure
REACTION_RATE = 50.0   # orders per second in the reaction benchmark


def _deposit(account: str, amount: int) -> NewEvent:
    return NewEvent("Deposited", {"account_id": account, "amount": amount}, 1)


def _one_long_stream(store, account: str, events: int) -> None:
    stream = f"account:{account}"
    store.append([AppendEntry(f"open-{account}", stream, 0,
                              (NewEvent("AccountOpened", {"account_id": account, "owner": "o"}, 1),))])
    for start in range(1, events, BATCH):
        count = min(BATCH, events - start)
        store.append([AppendEntry(f"{account}-{start}", stream, start,
                                  tuple(_deposit(account, 1 + i % 100) for i in range(count)))])


def bench_activation(root: Path, repeats: int) -> dict:
    settings = Settings(data_dir=root, snapshot_every=10**9)
    with open_store(root / "store") as store:
        _one_long_stream(store, "big", ACTIVATION_EVENTS)
        cold = _time_activations(store, settings, repeats)
        host = AggregateHost(bank.app, store, settings)
        live = host.activate("account:big", bank.Account)
        store.save_snapshot(Snapshot("account:big", live.version, live.state.encore_snapshot(), 1))
        warm = _time_activations(store, settings, repeats)
    return {"events": ACTIVATION_EVENTS, "no_snapshot_ms": cold, "snapshot_at_head_ms": warm}


def _time_activations(store, settings: Settings, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        host = AggregateHost(bank.app, store, settings)   # empty: the activation reads the store
        started = time.perf_counter()
        live = host.activate("account:big", bank.Account)
        times.append((time.perf_counter() - started) * 1000)
        assert live.version == ACTIVATION_EVENTS
    return round(statistics.median(times), 3)


def bench_rebuild(root: Path, repeats: int) -> dict:
    with open_store(root / "store") as store:
        _deposits_across_accounts(store, REBUILD_EVENTS, accounts=10_000)
        rates = []
        for _ in range(repeats):
            follower = ViewFollower(bank.app, "balances", store, Settings(data_dir=root), persist=False)
            started = time.perf_counter()
            consumed = follower.catch_up()
            rates.append(consumed / (time.perf_counter() - started))
    return {"events": REBUILD_EVENTS, "events_per_s": round(statistics.median(rates))}


class Tally(Reactor):
    """A reactor with nothing to send: it only folds the deposits into a total."""

    encore_name = "tally"

    def __init__(self):
        self.total = 0

    @reacts(bank.Deposited)
    def deposited(self, event, stored):
        self.total += event.amount
        return []


TALLY_APP = App("bank-tally", aggregates=list(bank.app.aggregates.values()), reactors=[Tally])


def bench_reactor_fold(root: Path, repeats: int) -> dict:
    """A reactor that sends nothing, run over the rebuild's 100,000 deposits by the reactor's own
    code (ReactorRunner: pages read, events decoded, handlers run, a checkpoint saved per page)."""
    with open_store(root / "store") as store:
        _deposits_across_accounts(store, REBUILD_EVENTS, accounts=10_000)
        rates = []
        for _ in range(repeats):
            runner = ReactorRunner(TALLY_APP, "tally", store)
            started = time.perf_counter()
            while page := runner.next_page(limit=2_000):
                if runner.reactions(page):
                    raise EncoreError("the tally reactor sent a command")
                runner.save(page[-1].offset)
            rates.append(REBUILD_EVENTS / (time.perf_counter() - started))
    return {"events": REBUILD_EVENTS, "events_per_s": round(statistics.median(rates))}


def bench_reaction(orders: int) -> dict:
    """From an order's commit to the checkout reactor's ReserveStock committed, on a launched
    shop: orders placed one at a time at REACTION_RATE per second (each order's saga takes four
    steps, one after the other, in the one checkout reactor: placed at full speed, orders queue
    behind the sagas before them, and the figure measures the queue). Both ends are the commit
    times the log records (each taken as its commit begins)."""
    with launched_app("examples.shop:app") as data, Encore.attach(data) as client:
        client.ask_many([shop.AddStock(product_id="p", quantity=10**6), bank.OpenAccount(account_id="c", owner="o")])
        started = time.monotonic()
        for n in range(orders):   # open loop at REACTION_RATE: the reactor is not behind on earlier sagas
            if (wait := started + n / REACTION_RATE - time.monotonic()) > 0:
                time.sleep(wait)
            client.ask(shop.PlaceShopOrder(order_id=f"o{n}", customer="c", product_id="p", quantity=1, price=1))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            reactor = next(a for a in client.status()["actors"] if a.get("reactor") == "checkout")
            if reactor["lag"] == 0 and reactor["in_flight"] == 0 and reactor["handled"] >= orders:
                break
        with open_store(data / "store") as store:
            placed, reserved = {}, {}
            for event in store.read_log(after=0, limit=10**7):
                if event.type == "ShopOrderPlaced":
                    placed[event.data["order_id"]] = event.time
                elif event.type == "StockReserved":
                    reserved[event.data["order_id"]] = event.time
    if len(reserved) < orders:
        raise AskTimeout(f"the checkout reactor reserved stock for {len(reserved)} of {orders} orders within 60 s")
    return {"orders": orders, "orders_per_s": REACTION_RATE,
            **latency_summary_ms(reserved[o] - placed[o] for o in placed)}


def _deposits_across_accounts(store, events: int, accounts: int) -> None:
    """Deposit n goes to account n % accounts, as its (n // accounts + 1)th event; batches of
    BATCH (< accounts), so no account appears twice in one batch."""
    for start in range(0, events, BATCH):
        store.append([
            AppendEntry(f"r-{n}", f"account:acc-{n % accounts}", n // accounts, (_deposit(f"acc-{n % accounts}", 5),))
            for n in range(start, min(start + BATCH, events))
        ])


def bench_shard_path(root: Path, chunks: int) -> dict:
    plan = BankWorkload(10_000, chunks * SHARD_CHUNK, 42).plan()
    with open_store(root / "store") as store:
        host = AggregateHost(bank.app, store, Settings(data_dir=root))
        for batch in _wire_batches(plan.setup, "open"):
            host.handle_batch(batch)
        batches, per_chunk, times, statuses = _wire_batches(plan.main, "main"), SHARD_CHUNK // 100, [], []
        for start in range(0, len(batches), per_chunk):
            started = time.perf_counter()
            results = [host.handle_batch(batch) for batch in batches[start:start + per_chunk]]
            times.append((time.perf_counter() - started) / SHARD_CHUNK * 1e6)
            statuses += [result["status"] for batch in results for result in batch]
    expected = [step.expect for step in plan.main]
    if statuses != expected:
        wrong = next(i for i, (got, want) in enumerate(zip(statuses, expected, strict=True)) if got != want)
        raise EncoreError(f"shard path: command {wrong} was {statuses[wrong]}, the plan says {expected[wrong]}")
    return {"commands": len(plan.main), "median_us_per_command": round(statistics.median(times), 2),
            "best_us_per_command": round(min(times), 2)}


def _wire_batches(steps: list, prefix: str) -> list[list[tuple]]:
    """The steps' commands as a client sends them, (type, fields, command id), in batches of 100."""
    wire = [(type(step.command).__name__, plain_fields(step.command), f"{prefix}-{n:09d}")
            for n, step in enumerate(steps)]
    return [wire[i:i + 100] for i in range(0, len(wire), 100)]


def bench_roundtrip(asks: int) -> dict:
    """Sequential no-op asks to shard 0 of a launched bank system: rate and latency."""
    workload = BankWorkload(1, 1, 0)
    with launched(workload, 1, None) as data, Encore.attach(data) as client:
        system, shard = client._system, client.topology.shards[0]  # the raw Thespian endpoint
        times = []
        for _ in range(100 + asks):  # the first 100 warm the connection up
            started = time.perf_counter()
            reply = system.ask(shard, Flush(), 10)
            if not isinstance(reply, Flushed):
                raise AskTimeout(f"the shard did not answer a round trip ({reply!r})")
            times.append(time.perf_counter() - started)
    times = sorted(times[100:])
    return {"asks": asks, "per_s": round(asks / sum(times)), "p50_ms": round(times[asks // 2] * 1000, 3),
            "p99_ms": round(times[int(asks * 0.99)] * 1000, 3)}


def bench_push(commands: int) -> dict:
    """Commit to view and commit to subscriber on a launched bank system: single deposits one at
    a time, each its own commit; nobody asks a view to wait (no after=). The view's figure is the
    balances replica's own record (actors.followers.view_fold.DeliveryLatency); the subscriber's, taken in a
    process of its own (so it never waits for this one's GIL) at each event's arrival. Both count
    from the commit time the shard recorded as the commit began, so they include its fsync."""
    workload = BankWorkload(1, 1, 0)
    with launched(workload, 1, None) as data, Encore.attach(data) as client:
        client.ask_many([bank.OpenAccount(account_id=f"p{i}", owner="o") for i in range(100)])
        head = client.status()["head_offset"]
        context = multiprocessing.get_context("spawn")
        arrivals, ready = context.Queue(), context.Event()
        subscriber = context.Process(target=_subscribe, args=(str(data), head, commands, ready, arrivals))
        subscriber.start()
        try:
            _wait_subscribed(client, ready)
            for n in range(commands):
                client.ask(bank.Deposit(account_id=f"p{n % 100}", amount=1))
            seconds = arrivals.get(timeout=60)
        finally:
            subscriber.join(timeout=30)
            if subscriber.is_alive():
                subscriber.kill()   # our own child, by its handle
        view = next(a for a in client.status()["actors"] if a.get("view") == "balances")
    return {"commands": commands, "commit_to_view_ms": view["delivery_ms"],
            "commit_to_subscriber_ms": latency_summary_ms(seconds)}


def _wait_subscribed(client: Encore, ready) -> None:
    """Until the subscriber process attached and the feed holds its subscription."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if ready.wait(1) and any(a.get("subscriptions") for a in client.status()["actors"] if a["role"] == "feed"):
            return
    raise AskTimeout("the subscriber process did not subscribe within 60 s")


def _subscribe(data: str, after: int, count: int, ready, arrivals) -> None:
    """The subscriber process: the delay of each of `count` events after `after`."""
    seconds: list[float] = []
    with Encore.attach(data) as client:
        events = client.subscribe(after)
        ready.set()   # the subscription is sent when the iteration begins, just below
        for event in events:
            seconds.append(time.time() - event.time)
            if len(seconds) >= count:
                break
        events.close()
    arrivals.put(seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench-runtime", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, metavar="FILE")
    parser.add_argument("--asks", type=int, default=3000, help="round trips to time (0: skip)")
    parser.add_argument("--push", type=int, default=2000, help="commits whose delivery to time (0: skip)")
    parser.add_argument("--reactions", type=int, default=1000, help="orders whose reaction to time (0: skip)")
    parser.add_argument("--validate-stored", action="store_true",
                        help="validate every stored event read back, as before events were rebuilt without "
                             "validation (to compare the in-process figures)")
    args = parser.parse_args(argv)
    if args.validate_stored:
        for app in (bank.app, TALLY_APP):
            app.registry.validate_always()
    with tempfile.TemporaryDirectory(prefix="bench-runtime-") as tmp:
        figures = {"activation": bench_activation(Path(tmp) / "activation", args.repeats),
                   "rebuild": bench_rebuild(Path(tmp) / "rebuild", args.repeats),
                   "reactor_fold": bench_reactor_fold(Path(tmp) / "reactor", args.repeats),
                   "shard_path": bench_shard_path(Path(tmp) / "shard", chunks=4 * args.repeats)}
    if args.asks > 0:
        figures["roundtrip"] = bench_roundtrip(args.asks)
    if args.push > 0:
        figures["push"] = bench_push(args.push)
    if args.reactions > 0:
        figures["reaction"] = bench_reaction(args.reactions)
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
