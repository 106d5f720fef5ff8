"""`bin/loadsim WORKLOAD [options]`: drive a system with a workload, measure it, verify it.

The plan (every command and what the model says must happen to it) is built here from the seed.
Each entity's commands go to one client, in plan order, so the outcomes do not depend on the
number of clients. Clients are processes of their own (spawned), attached to a launched system;
with --embedded the one client runs in this process. At the end the run is verified (verify.py)
and its figures printed, and written with --json; the exit code is 0 only when every check held.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import multiprocessing
import os
import queue
import sys
import threading
import time
import uuid
import zlib
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from actors.client import Encore
from actors.errors import ConfigError, EncoreError
from actors.model.app import importable_from, load_app
from actors.process.settings import Settings
from actors.protocol.status import SystemStatus
from storage import open_store

from . import cpu, report
from .bank import BankWorkload
from .chaos import Chaos, parse_spec
from .driver import ClientReport, DriveOptions, Driver, frozen_heap
from .orders import OrdersWorkload
from .shop import ShopWorkload
from .systems import Target, attached, embedded, launched
from .tasks import TasksWorkload
from .users import UsersWorkload
from .verify import verify
from .workload import Plan, Step, Workload

WORKLOADS: dict[str, type[Workload]] = {
    w.name: w for w in (BankWorkload, TasksWorkload, UsersWorkload, OrdersWorkload, ShopWorkload)}
SETUP_BATCH = 500          # the untimed set-up (opening accounts) goes in large batches
CLIENT_START_TIMEOUT_S = 120.0
PLOT_BINS = 60             # throughput is plotted in this many slices of the run (at least 50 ms each)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="loadsim", description="Load-simulate an Encore system and verify it.")
    p.add_argument("workload", nargs="?", choices=sorted(WORKLOADS),
                   help="a sample workload (or give your own with --workload)")
    p.add_argument("--workload", dest="workload_path", metavar="MODULE:ATTR",
                   help="your own Workload class, e.g. examples.library:LibraryWorkload")
    p.add_argument("--app", dest="app_path", metavar="MODULE:ATTR",
                   help="the app to run it against (default: the workload's own app_path)")
    p.add_argument("--app-dir", metavar="DIR", default=None,
                   help="the folder --app and --workload are imported from (default: the current one)")
    p.add_argument("--accounts", "--entities", dest="entities", type=int, default=None,
                   help="accounts (bank), or tasks/users/orders: how many entities (default: the workload's)")
    p.add_argument("--commands", type=int, default=None, help="commands in the timed part (default: the workload's)")
    p.add_argument("--clients", type=int, default=1, help="client processes (default 1)")
    p.add_argument("--batch", type=int, default=100, help="commands per ask_many; 1 = single asks (default 100)")
    p.add_argument("--concurrency", type=int, default=1,
                   help="with --batch 1: single asks each client keeps in flight at once, through the asyncio "
                        "client that coalesces them (default 1: one at a time)")
    p.add_argument("--rate", type=float, default=None, help="open loop: commands/s in all (default: closed loop)")
    p.add_argument("--reads", type=float, default=None, help="percent of commands followed by a query")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--quick", action="store_true", help="a size that finishes in seconds")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--embedded", action="store_true", help="an in-process system (simpleSystemBase)")
    mode.add_argument("--attach", type=Path, metavar="DIR", help="drive the running system on DIR")
    p.add_argument("--shards", type=int, default=None,
                   help="shards of the system started for the run (default: half the CPUs; embedded 1)")
    p.add_argument("--keep", type=Path, metavar="DIR", help="keep the run's data directory in DIR")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the figures as JSON")
    p.add_argument("--plot", type=Path, metavar="FILE.png", help="plot throughput over time and latencies")
    p.add_argument("--chaos", metavar="SPEC", type=parse_spec, default=None,
                   help="kill -9 system processes during the run: kill-shard:N, kill-projection:N, "
                        "kill-query:N, kill-any:N (comma-separated)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def check(args: argparse.Namespace) -> None:
    for name in ("clients", "batch", "shards", "concurrency"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ConfigError(f"--{name} must be at least 1, not {getattr(args, name)}")
    for name in ("entities", "commands"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ConfigError(f"--{'accounts' if name == 'entities' else name} must be at least 1")
    if args.rate is not None and args.rate <= 0:
        raise ConfigError(f"--rate must be a positive number of commands/s, not {args.rate}")
    if args.concurrency > 1 and args.batch != 1:
        raise ConfigError(f"--concurrency keeps single asks in flight: use it with --batch 1 (not {args.batch})")
    if args.concurrency > 1 and args.rate is not None:
        raise ConfigError("--concurrency is a closed loop (each lane asks when its last ask returned); drop --rate")
    if args.concurrency > 10_000:
        raise ConfigError(f"--concurrency {args.concurrency} is more than 10000 asks in flight per client")
    if args.reads is not None and not 0 <= args.reads <= 100:
        raise ConfigError(f"--reads is a percentage, 0..100, not {args.reads}")
    if args.embedded and args.chaos:
        raise ConfigError("--chaos kills processes of a launched system; drop --embedded")
    if args.embedded and args.clients != 1:
        raise ConfigError("--embedded runs the system in this process with one client; use --clients 1, "
                          "or drop --embedded to launch a multi-process system")
    if args.attach is not None and not (args.attach / "system.json").exists():
        raise ConfigError(f"no system is running on {args.attach}: "
                          f"start one with `bin/encore start --data {args.attach}`")
    if args.plot:
        report.check_plot_available()


def workload_class(args: argparse.Namespace) -> type[Workload]:
    """The sample named, or the user's class at --workload MODULE:ATTR."""
    if (args.workload is None) == (args.workload_path is None):
        raise ConfigError(f"name one workload: a sample ({', '.join(sorted(WORKLOADS))}) or --workload MODULE:ATTR")
    if args.workload is not None:
        return WORKLOADS[args.workload]
    module_name, _, attr = args.workload_path.partition(":")
    importable_from()   # from the current directory, as apps are
    try:
        kind = getattr(importlib.import_module(module_name), attr) if module_name and attr else None
    except ImportError as e:
        raise ConfigError(f"--workload {args.workload_path}: cannot import {module_name!r} ({e})") from e
    if not (isinstance(kind, type) and issubclass(kind, Workload)):
        raise ConfigError(f"--workload {args.workload_path}: give MODULE:ATTR naming a subclass of "
                          f"loadsim.workload.Workload (found {type(kind).__name__})")
    return kind


def make_workload(args: argparse.Namespace, tag: str) -> Workload:
    kind = workload_class(args)
    entities = args.entities or (kind.quick_entities if args.quick else kind.default_entities)
    commands = args.commands or (kind.quick_commands if args.quick else kind.default_commands)
    # attached to a system with other data: this run's entities get names of their own
    workload = kind(entities, commands, args.seed, prefix=f"{tag}-" if args.attach else "")
    if args.app_path:   # the same workload against another app (one that has its commands)
        vars(workload).update(app=load_app(args.app_path), app_path=args.app_path)
    return workload


# ---------------------------------------------------------------- clients


def partition(steps: list[Step], clients: int) -> list[list[int]]:
    """Step indices per client: every step of an entity to the same client, in plan order."""
    shares: list[list[int]] = [[] for _ in range(clients)]
    for index, step in enumerate(steps):
        shares[zlib.crc32(step.key.encode()) % clients].append(index)
    return shares


PlannedSteps = tuple[list[Step], list[str]]   # steps and their command ids


def client_process(index: int, data_dir: str, workload: Workload, setup: PlannedSteps, main: PlannedSteps,
                   options: DriveOptions, progress: Any, ready: Any, go: Any, done: Any) -> None:
    """A client process: attach, run the set-up, wait for the start, run the timed part, report."""
    try:
        with Encore.attach(data_dir) as client:
            driver = Driver(client, workload, options, progress)
            setup_report, main_report = ClientReport(), ClientReport()
            driver.run(*setup, setup_report, batch=SETUP_BATCH, count=False)
            with frozen_heap():  # before the start: its collection is preparation, not load
                ready.put(index)
                if not go.wait(CLIENT_START_TIMEOUT_S):
                    raise ConfigError("the simulator never gave the start signal")
                began = time.process_time()
                driver.run(*main, main_report)
                main_report.cpu_s = time.process_time() - began
            done.put((index, setup_report, main_report, None))
    except BaseException as e:  # report, never hang the simulator
        ready.put(index)
        done.put((index, None, None, f"client {index} failed: {e!r}"))


class Counter:
    """A progress counter for the in-process client (the same face as multiprocessing.Value)."""

    def __init__(self) -> None:
        self.value = 0


def run_clients(args, target: Target, workload: Workload, plan: Plan, ids: dict[str, list[str]],
                chaos: Chaos | None = None) -> dict:
    """Run the plan; returns per-step outcomes (in plan order), the merged reports and the times."""
    rate = args.rate / args.clients if args.rate else None
    options = DriveOptions(args.batch, rate, workload.default_reads if args.reads is None else args.reads, args.seed,
                           concurrency=args.concurrency)
    if chaos is not None:   # a killed actor's asks time out: notice it soon, retry at the new address
        options.ask_timeout_s, options.query_timeout_s = 3.0, 2.0
    shares = {phase: partition(getattr(plan, phase), args.clients) for phase in ("setup", "main")}
    if target.mode == "embedded":
        return _run_in_process(args, target, workload, plan, ids, options)
    context = multiprocessing.get_context("spawn")
    ready, done, go = context.Queue(), context.Queue(), context.Event()
    counters = [context.Value("q", 0, lock=False) for _ in range(args.clients)]
    processes = []
    for index in range(args.clients):
        phase_args = {phase: ([getattr(plan, phase)[i] for i in shares[phase][index]],
                              [ids[phase][i] for i in shares[phase][index]]) for phase in ("setup", "main")}
        options_i = dataclasses.replace(options, seed=args.seed * 1000 + index)
        processes.append(context.Process(
            target=client_process, name=f"loadsim-client-{index}",
            args=(index, str(target.data_dir), workload, phase_args["setup"], phase_args["main"], options_i,
                  counters[index], ready, go, done)))
    for process in processes:
        process.start()
    try:
        for _ in processes:
            ready.get(timeout=CLIENT_START_TIMEOUT_S + 600)
        cpu_before = cpu.snapshot(target.client.status())
        started = time.monotonic()
        go.set()
        with Progress(len(plan.main), lambda: sum(c.value for c in counters), started, not args.no_progress):
            reports = _collect(done, processes, lambda: _chaos_tick(chaos, target, counters))
        cpu_after = cpu.settled_snapshot(target.client)
    except BaseException:   # Ctrl-C or a failed client: the others stop now, not after their share
        for process in processes:
            process.kill()   # our own children, by their handles
        raise
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()   # our own child, by its handle
    merged = _merge(plan, shares, reports, started)
    clients_cpu = sum(main_report.cpu_s for _, main_report in reports.values())
    merged["cpu_us_per_command"] = cpu.per_command(cpu_before, cpu_after, len(plan.main), clients_cpu)
    return merged


def _chaos_tick(chaos: Chaos | None, target: Target, counters: list) -> None:
    if chaos is not None:
        chaos.tick(target.client, sum(c.value for c in counters))


def _collect(done: Any, processes: list, tick: Any) -> dict[int, tuple]:
    reports: dict[int, tuple] = {}
    while len(reports) < len(processes):
        tick()
        try:
            index, setup_report, main_report, error = done.get(timeout=0.05)
        except queue.Empty:
            dead = [p.name for i, p in enumerate(processes) if not p.is_alive() and i not in reports]
            if dead:
                raise EncoreError(f"client process(es) {', '.join(dead)} died without a report") from None
            continue
        if error:
            raise EncoreError(error)
        reports[index] = (setup_report, main_report)
    return reports


def _run_in_process(args, target: Target, workload: Workload, plan: Plan, ids: dict, options: DriveOptions) -> dict:
    counter = Counter()
    driver = Driver(target.client, workload, options, counter)
    setup_report, main_report = ClientReport(), ClientReport()
    driver.run(plan.setup, ids["setup"], setup_report, batch=SETUP_BATCH, count=False)
    with frozen_heap():  # entered before the clock starts: its collection is preparation, not load
        started = time.monotonic()
        with Progress(len(plan.main), lambda: counter.value, started, not args.no_progress):
            driver.run(plan.main, ids["main"], main_report)
    shares = {"setup": [list(range(len(plan.setup)))], "main": [list(range(len(plan.main)))]}
    return _merge(plan, shares, {0: (setup_report, main_report)}, started)


def _merge(plan: Plan, shares: dict, reports: dict[int, tuple], started: float) -> dict:
    outcomes: dict[str, list] = {"setup": [None] * len(plan.setup), "main": [None] * len(plan.main)}
    merged = ClientReport()
    for index, (setup_report, main_report) in sorted(reports.items()):
        for phase, phase_report in (("setup", setup_report), ("main", main_report)):
            for step_index, outcome in zip(shares[phase][index], phase_report.outcomes, strict=True):
                outcomes[phase][step_index] = outcome
        merged.finished_at.extend(main_report.finished_at)
        for name in ("latency", "query_latency", "ryw_latency"):   # the clients' histograms, merged
            getattr(merged, name).add(getattr(main_report, name))
        merged.ryw_stale_examples += setup_report.ryw_stale_examples + main_report.ryw_stale_examples
        for name in ("ryw_checked", "ryw_stale", "retried", "retried_queries"):
            setattr(merged, name, getattr(merged, name) + getattr(main_report, name) + getattr(setup_report, name))
        merged.errors += setup_report.errors + main_report.errors
    ended = max((t for t, _ in merged.finished_at), default=started)
    return {"outcomes": outcomes, "report": merged, "started": started, "elapsed": max(ended - started, 1e-9)}


class Progress:
    """Progress on stderr: a live bar with the rate, elapsed time and ETA (rich) on a terminal; a
    plain line every 5 s without one (CI, pipes)."""

    def __init__(self, total: int, done: Any, started: float, enabled: bool) -> None:
        self.total, self.done, self.started, self.enabled = total, done, started, enabled
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.tty = sys.stderr.isatty()
        self.bar: Any = None

    def __enter__(self) -> Progress:
        if self.enabled and self.tty:
            self.bar = _rich_progress()
            self.bar.start()
            self.task = self.bar.add_task("commands", total=self.total, rate="")
            self.last = (time.monotonic(), 0)
        if self.enabled:
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if not self.enabled:
            return
        self.thread.join()
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done())
            self.bar.stop()
        else:
            self._line(time.monotonic())

    def _loop(self) -> None:
        while not self.stop.wait(0.5 if self.bar is not None else 5.0):
            if self.bar is not None:
                self._bar(time.monotonic())
            else:
                self._line(time.monotonic())

    def _bar(self, now: float) -> None:
        """The bar, with the rate of the last half second (the live rate)."""
        done, (then, before) = self.done(), self.last
        self.bar.update(self.task, completed=done, rate=f"{(done - before) / max(now - then, 1e-9):,.0f}/s now")
        self.last = (now, done)

    def _line(self, now: float) -> None:
        done = self.done()
        rate = done / max(now - self.started, 1e-9)
        print(f"{done:,}/{self.total:,} commands  {rate:,.0f}/s  {now - self.started:5.1f} s", file=sys.stderr,
              flush=True)


def _rich_progress() -> Any:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
                    TextColumn("[cyan]{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                    console=Console(stderr=True))


# ---------------------------------------------------------------- figures


def throughput(finished_at: list[tuple[float, int]], started: float, elapsed: float) -> list[tuple[float, float]]:
    """(seconds since start, commands/s) per slice of the run."""
    width = max(elapsed / PLOT_BINS, 0.05)
    bins: dict[int, int] = {}
    for when, count in finished_at:
        slot = int((when - started) / width)
        bins[slot] = bins.get(slot, 0) + count
    return [(slot * width, bins.get(slot, 0) / width) for slot in range(max(bins, default=-1) + 1)]


def figures(args, target: Target, workload: Workload, run: dict, verification,
            status: SystemStatus) -> dict:
    main, merged = run["outcomes"]["main"], run["report"]
    count = {s: sum(1 for o in main if o[0] == s) for s in ("accepted", "rejected", "invalid", "failed")}
    shards = [a for a in status.get("actors", []) if a.get("role") == "shard"]
    return {
        "workload": workload.name, "mode": target.mode, "clients": args.clients, "batch": args.batch,
        "concurrency": args.concurrency,
        **({"cpu_us_per_command": run["cpu_us_per_command"]} if "cpu_us_per_command" in run else {}),
        "rate": args.rate, "seed": args.seed, "entities": workload.entities, "commands": len(main),
        **count, "elapsed_s": round(run["elapsed"], 3), "commands_per_s": round(len(main) / run["elapsed"], 1),
        "latency_ms": merged.latency.summary(),
        "events": sum(o[3] for o in main if o[0] == "accepted"),
        # the timed part's queries; ryw_checked and ryw_stale also count the set-up's (checked all the same)
        "queries": merged.query_latency.count, "ryw_queries": merged.ryw_latency.count,
        "ryw_checked": merged.ryw_checked,
        "query_latency_ms": merged.query_latency.summary("p50", "p99"),
        "ryw_latency_ms": merged.ryw_latency.summary("p50", "p99"),
        "ryw_stale": merged.ryw_stale, "retried": merged.retried, "retried_queries": merged.retried_queries,
        "rebuild": verification.rebuild,
        "memory": {"shard_peak_rss_mb": [s.get("peak_rss_mb") for s in shards],
                   "shard_heap_mb": [s.get("heap_mb") for s in shards],
                   "live_aggregates": [s.get("live_aggregates") for s in shards],
                   "cap": Settings.from_env().max_live_aggregates},
        "verify": verification.as_json(),
    }


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.app_dir:   # for this process, its clients and the system it starts
        os.environ["ENCORE_APP_DIR"] = str(Path(args.app_dir).resolve())
    try:
        check(args)
        return simulate(args)
    except EncoreError as e:
        print(f"loadsim: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def simulate(args: argparse.Namespace) -> int:
    tag = f"ls{args.seed}-{uuid.uuid4().hex[:8]}"
    workload = make_workload(args, tag)
    plan = workload.plan()
    ids = {"setup": [f"{tag}-s{i}" for i in range(len(plan.setup))],
           "main": [f"{tag}-{i}" for i in range(len(plan.main))]}
    with ExitStack() as stack:
        stack.enter_context(workload.services())
        if args.embedded:
            target = stack.enter_context(embedded(workload, args.shards, args.keep))
        else:
            data = args.attach or stack.enter_context(launched(workload, args.shards, args.keep))
            target = stack.enter_context(attached(data, workload))
        head_before = _head(target.data_dir)
        print(f"loadsim {workload.name}: {workload.entities:,} entities, {len(plan.main):,} commands, "
              f"{target.mode}, {args.clients} client(s), batch {args.batch}, concurrency {args.concurrency}, "
              f"seed {args.seed}", file=sys.stderr)
        chaos = Chaos(args.chaos, args.seed, len(plan.main)) if args.chaos else None
        run = run_clients(args, target, workload, plan, ids, chaos)
        target.client.refresh_topology()   # actors killed during the run live at new addresses
        settled = workload.settle(target.client, plan)
        steps, all_ids = plan.setup + plan.main, ids["setup"] + ids["main"]
        outcomes = run["outcomes"]["setup"] + run["outcomes"]["main"]
        verification = verify(target.client, target.data_dir, workload, plan, steps, all_ids, outcomes, head_before)
        if run["report"].ryw_stale:
            verification.add("read-your-writes", run["report"].ryw_stale_examples)
        verification.add("client", run["report"].errors)
        status = target.client.status()
        result = {**figures(args, target, workload, run, verification, status), **settled}
        effects = settled.get("effects", {})
        if settled.get("sagas", {}).get("unfinished") or effects.get("parked") or \
                effects.get("emails_unique", 0) < effects.get("emails_expected", 0):
            result["verify"]["ok"] = False   # a saga left unfinished, an effect parked, an email missing
        if chaos is not None:
            result["chaos"] = chaos.report(status, run["report"].retried, verification.lost, verification.duplicated)
        publish(args, workload, run, result)   # before the system stops: a failed stop loses no figure
    return 0 if result["verify"]["ok"] else 1


def publish(args: argparse.Namespace, workload: Workload, run: dict, result: dict) -> None:
    report.print_table(result)
    if args.json:
        report.write_json(result, args.json)
    if args.plot:
        rates = throughput(run["report"].finished_at, run["started"], run["elapsed"])
        report.plot(args.plot, rates, run["report"].latency.curve(),
                    f"{workload.name}: {result['commands_per_s']:,.0f} commands/s, {result['mode']}, "
                    f"{args.clients} client(s), batch {args.batch}")


def _head(data_dir: Path) -> int:
    store = open_store(data_dir / "store")
    try:
        return store.head_offset()
    finally:
        store.close()
