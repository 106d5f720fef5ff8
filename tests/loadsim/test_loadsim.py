"""The load simulator: its workloads' models, its verification (which must be able to fail), and
whole runs, in-process and against a launched system."""

import gc
import json
import subprocess
import sys

import pytest

from actors.client import Encore
from loadsim.bank import BankWorkload
from loadsim.driver import frozen_heap
from loadsim.orders import OrdersWorkload
from loadsim.runner import main, partition
from loadsim.tasks import TasksWorkload
from loadsim.users import UsersWorkload
from loadsim.verify import verify
from tests.support.system_helpers import ROOT, system_pids

LOADSIM = [sys.executable, str(ROOT / "bin" / "loadsim")]


def test_the_bank_model_reproduces_the_peers_rejections_for_seed_42():
    plan = BankWorkload(10_000, 100_000, 42).plan()
    assert plan.model["rejected_withdrawals"] == 8_848
    assert sum(s.expect == "rejected" for s in plan.main) == 8_848


def test_the_timed_part_runs_with_the_plan_frozen_and_the_collector_thaws_after_it_even_on_error():
    plan = BankWorkload(100, 1_000, 1).plan()
    assert gc.get_freeze_count() == 0
    with pytest.raises(RuntimeError), frozen_heap():
        assert gc.get_freeze_count() >= len(plan.main)   # the steps (and their commands) are frozen
        raise RuntimeError("a client failed")
    assert gc.get_freeze_count() == 0


@pytest.mark.parametrize("kind", [BankWorkload, TasksWorkload, UsersWorkload, OrdersWorkload])
def test_plans_are_the_same_for_the_same_seed_and_mix_outcomes(kind):
    first, again = kind(100, 2_000, 7).plan(), kind(100, 2_000, 7).plan()
    assert [s.command for s in first.main] == [s.command for s in again.main]
    expected = {s.expect for s in first.main}
    assert {"accepted", "rejected"} <= expected
    if kind is UsersWorkload:
        assert "invalid" in expected


def test_partition_keeps_each_entitys_steps_with_one_client_in_order():
    plan = OrdersWorkload(50, 1_000, 3).plan()
    shares = partition(plan.main, 3)
    assert sorted(i for share in shares for i in share) == list(range(len(plan.main)))
    owner = {}
    for client, share in enumerate(shares):
        assert share == sorted(share)
        for i in share:
            assert owner.setdefault(plan.main[i].key, client) == client


def run_json(tmp_path, *args) -> tuple[int, dict]:
    out = tmp_path / "run.json"
    code = main([*args, "--json", str(out), "--no-progress"])
    return code, json.loads(out.read_text())


@pytest.mark.parametrize("workload", ["bank", "tasks", "users", "orders"])
def test_an_embedded_run_verifies_and_reports_every_figure(tmp_path, workload):
    code, figures = run_json(tmp_path, workload, "--embedded", "--accounts", "60", "--commands", "600",
                             "--batch", "20", "--reads", "40", "--keep", str(tmp_path / "keep"))
    assert code == 0, figures["verify"]
    assert figures["verify"]["ok"] and figures["verify"]["lost"] == figures["verify"]["duplicated"] == 0
    assert figures["commands"] == 600 and figures["mode"] == "embedded"
    outcomes = figures["verify"]["outcomes"]
    assert figures["rejected"] == outcomes["expected_rejected"] > 0
    assert figures["invalid"] == outcomes["expected_invalid"]
    assert set(figures["latency_ms"]) == {"p50", "p90", "p99", "p999", "max"}
    assert figures["queries"] > 0 and 0 < figures["ryw_queries"] <= figures["queries"] and figures["ryw_stale"] == 0
    assert figures["ryw_checked"] >= figures["ryw_queries"]
    apps = {"bank": BankWorkload, "tasks": TasksWorkload, "users": UsersWorkload, "orders": OrdersWorkload}
    assert figures["verify"]["views_equal_fold"] == sorted(apps[workload].app.projections)
    assert all(r["events"] == figures["verify"]["log"]["events"] for r in figures["rebuild"].values())


def test_verification_finds_a_lost_a_duplicated_and_a_mispredicted_command(tmp_path):
    workload = BankWorkload(5, 40, 1)
    plan = workload.plan()
    steps = plan.setup + plan.main
    ids = [f"t-{i}" for i in range(len(steps))]
    with Encore.embedded(workload.app, tmp_path) as client:
        results = client.ask_many([s.command for s in steps], command_ids=ids)
        outcomes = [(r.status, r.code, r.position or 0, len(r.events), r.duplicate) for r in results]
        assert verify(client, tmp_path, workload, plan, steps, ids, outcomes, 0).ok
        first = next(i for i, o in enumerate(outcomes) if o[0] == "accepted")
        status, code, position, events, dup = outcomes[first]
        tampered = list(outcomes)
        tampered[first] = (status, code, position, events + 1, dup)          # told of an event the log lacks
        lost = verify(client, tmp_path, workload, plan, steps, ids, tampered, 0)
        assert not lost.ok and lost.lost == 1
        tampered[first] = (status, code, position, 0, dup)                   # the log holds more than told
        assert verify(client, tmp_path, workload, plan, steps, ids, tampered, 0).duplicated == 1
        plan.model["balances"][workload.account(0)] += 1                      # the model disagrees with the views
        wrong = verify(client, tmp_path, workload, plan, steps, ids, outcomes, 0)
        assert not wrong.ok and any("balance of acc-0" in d for d in wrong.differences)


@pytest.mark.parametrize("args, message", [
    (["bank", "--embedded", "--clients", "2"], "--clients 1"),
    (["bank", "--batch", "0"], "--batch must be at least 1"),
    (["bank", "--reads", "120"], "percentage"),
    (["bank", "--attach", "/nonexistent/encore"], "no system is running"),
])
def test_bad_options_get_a_clear_error_and_exit_2(args, message, capsys):
    assert main(args) == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_a_launched_run_with_two_client_processes_verifies(tmp_path):
    out = tmp_path / "run.json"
    done = subprocess.run([*LOADSIM, "orders", "--quick", "--clients", "2", "--batch", "25", "--reads", "20",
                           "--keep", str(tmp_path / "keep"), "--json", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(out.read_text())
    assert (figures["mode"], figures["clients"], figures["verify"]["ok"]) == ("multiproc", 2, True)
    assert figures["ryw_stale"] == 0 and figures["memory"]["shard_peak_rss_mb"]
    cpu = figures["cpu_us_per_command"]   # from the processes' own CPU accounting
    assert cpu["shards"] > 0 and cpu["followers"] > 0 and cpu["clients"] > 0
    assert cpu["system"] == pytest.approx(cpu["shards"] + cpu["followers"], abs=0.2)
    assert "commands/s" in done.stdout and "every check held" in done.stdout
    assert system_pids(tmp_path / "keep" / "data") == []   # the run stopped the system it started


def test_bench_runtime_measures_activation_rebuild_the_shard_path_and_the_round_trip(tmp_path, capsys):
    from loadsim import benchmarks

    out = tmp_path / "figures.json"
    assert benchmarks.main(["--repeats", "1", "--asks", "30", "--push", "200", "--reactions", "50",
                            "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert figures["activation"]["events"] == benchmarks.ACTIVATION_EVENTS
    assert 0 < figures["activation"]["snapshot_at_head_ms"] < figures["activation"]["no_snapshot_ms"]
    assert figures["rebuild"]["events_per_s"] > 0
    path = figures["shard_path"]  # the bench itself checks every result against the plan
    assert path["commands"] == 4 * benchmarks.SHARD_CHUNK
    assert 0 < path["best_us_per_command"] <= path["median_us_per_command"]
    assert figures["reactor_fold"]["events_per_s"] > 0
    assert figures["reaction"]["events"] == 50 and 0 < figures["reaction"]["p50"] <= figures["reaction"]["p99"]
    push = figures["push"]
    assert push["commit_to_subscriber_ms"]["events"] == 200 and push["commit_to_view_ms"]["events"] >= 200
    assert 0 < push["commit_to_view_ms"]["p50"] <= push["commit_to_view_ms"]["p99"]
    trip = figures["roundtrip"]
    assert trip["asks"] == 30 and trip["per_s"] > 0 and 0 < trip["p50_ms"] <= trip["p99_ms"]
    assert json.loads(capsys.readouterr().out) == figures
