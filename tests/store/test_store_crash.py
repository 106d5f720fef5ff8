"""kill -9 a writer at random moments: every acknowledged batch survives, none is partly there."""

import os
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from storage import open_store
from tests.support.crash_writer import BATCH_COMMANDS
from tests.support.helpers import assert_log_gapless

ROOT = Path(__file__).resolve().parents[2]
KILLS = 5


def start_writer(path, first_batch, seed, prefix=""):
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.crash_writer", str(path), str(first_batch), str(seed), prefix],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )


def run_writer_until_killed(path, first_batch, acks_before_kill, seed):
    """Start the writer, read its acks, SIGKILL it mid-stream; return the acknowledged batches."""
    child = start_writer(path, first_batch, seed)
    acked = []
    try:
        for line in child.stdout:
            acked.append(int(line.split()[1]))
            if len(acked) >= acks_before_kill:
                break
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    return acked


def test_acknowledged_batches_survive_kill_9(tmp_path):
    path, rng, acked = tmp_path / "store", random.Random(7), []
    for run in range(KILLS):
        acked += run_writer_until_killed(path, run * 10_000, rng.randint(5, 60), seed=run)
    with open_store(path) as store:
        events = assert_log_gapless(store)
        commands_per_batch = Counter()
        for cid in {e.command_id for e in events}:
            commands_per_batch[cid.split("-")[0]] += 1
        for batch in acked:
            outcome = store.command_outcome(f"b{batch}-0")
            assert outcome is not None, f"acknowledged batch {batch} is missing"
        partial = {b: n for b, n in commands_per_batch.items() if n != BATCH_COMMANDS}
        assert partial == {}, f"batches partly written: {partial}"
        for e in events:  # every event sits with the command that recorded it
            outcome = store.command_outcome(e.command_id)
            assert outcome.position - outcome.event_count < e.offset <= outcome.position
    assert len(acked) >= KILLS * 5


def test_two_writer_processes_share_the_unindexed_tail(tmp_path):
    """Two processes append at once and index every few events: each reads the other's events
    from the log's tail to know its heads, and the index they build together is the log's."""
    path = tmp_path / "store"
    open_store(path).close()  # created before the writers race
    writers = [start_writer(path, 0, seed, prefix) for seed, prefix in ((1, "x-"), (2, "y-"))]
    try:
        for writer in writers:  # both are running and acknowledging
            for _ in range(40):
                assert writer.stdout.readline().startswith("ack")
    finally:
        for writer in writers:
            os.kill(writer.pid, signal.SIGKILL)
            writer.wait(timeout=30)
            writer.stdout.close()
    with open_store(path) as store:
        events = assert_log_gapless(store)
        assert {e.stream[:2] for e in events} == {"x-", "y-"}
