"""`bin/bench-cluster`: what a synchronous standby costs, on network-namespace hosts of this
machine (root). The same load, from a client on h3, against a primary on h1 twice, alternating:
with its standby on h2 (`ack = "all"`), and alone (`ack = "local"`, no standby running). The
hosts share this machine's cores: compare within one run.

The load: single asks one after another (their p50 and p99), then commands in batches of 100
(commands/s). Run:  bin/bench-cluster [--rounds 3] [--asks 500] [--batches 50] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from .netns import Hosts, hosts

ENCORE = [sys.executable, str(Path(__file__).resolve().parent.parent / "bin" / "encore")]

CLIENT = """
import json, sys, time
from actors.client import Encore
from examples.bank import Deposit, OpenAccount
cluster, prefix, asks, batches = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
client = Encore.attach(cluster=cluster)
client.ask_many([OpenAccount(account_id=f"{prefix}{i}", owner="o") for i in range(100)])
times = []
for n in range(asks):
    started = time.perf_counter()
    client.ask(Deposit(account_id=f"{prefix}{n % 100}", amount=1))
    times.append(time.perf_counter() - started)
started = time.perf_counter()
for b in range(batches):
    client.ask_many([Deposit(account_id=f"{prefix}{i}", amount=1) for i in range(100)])
elapsed = time.perf_counter() - started
times.sort()
p50, p99 = times[len(times) // 2], times[int(len(times) * 0.99)]
print(json.dumps({"ask_p50_ms": round(p50 * 1000, 3), "ask_p99_ms": round(p99 * 1000, 3),
                  "batched_commands_per_s": round(batches * 100 / elapsed)}))
"""


def run_once(made: Hosts, base: Path, standby: bool, asks: int, batches: int, tag: str) -> dict[str, Any]:
    cluster = base / f"{tag}.toml"
    made.run("h1", *ENCORE, "cluster", "init", "--host", "h1=10.88.0.1", "--host", "h2=10.88.0.2",
             "--host", "h3=10.88.0.3", "--out", str(cluster), check=True)
    if not standby:
        cluster.write_text(cluster.read_text().replace('ack = "all"', 'ack = "local"'))
    started = ["h2", "h1"] if standby else ["h1"]
    for host in started:
        made.run(host, *ENCORE, "start", "--cluster", str(cluster), "--host", host, "--data", str(base / tag / host),
                 check=True)
    try:
        done = made.python("h3", "-c", CLIENT, str(cluster), tag, str(asks), str(batches), timeout=600, check=True)
        return json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        for host in started:
            made.run(host, *ENCORE, "stop", "--data", str(base / tag / host))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench-cluster", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--asks", type=int, default=500)
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--json", type=Path, metavar="FILE")
    args = parser.parse_args(argv)
    runs: dict[str, list[dict[str, Any]]] = {"alone": [], "standby": []}
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp, hosts("h1", "h2", "h3") as made:
        for r in range(args.rounds):
            for kind in (("standby", "alone") if r % 2 else ("alone", "standby")):   # alternating order
                figures = run_once(made, Path(tmp), kind == "standby", args.asks, args.batches, f"{kind}{r}")
                runs[kind].append(figures)
                print(f"round {r + 1} {kind:8} {figures}", flush=True)
    summary = {kind: {key: statistics.median(run[key] for run in runs[kind]) for key in runs[kind][0]}
               for kind in runs}
    summary["ratio_batched"] = round(summary["standby"]["batched_commands_per_s"] /
                                     summary["alone"]["batched_commands_per_s"], 2)
    print(json.dumps({"runs": runs, "medians": summary}, indent=2))
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "medians": summary}, indent=2))
    return 0
