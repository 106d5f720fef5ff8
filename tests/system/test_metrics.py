"""Prometheus metrics of a launched system (`encore start --metrics-port`), scraped with a real
HTTP client and read with Prometheus' own parser, before and after a load."""

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from actors.client import Encore
from examples.bank import Deposit, OpenAccount, Withdraw
from tests.support.system_helpers import RunningSystem, encore, free_port

pytestmark = pytest.mark.slow


def scrape(port):
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    return {family.name: family for family in text_string_to_metric_families(text)}


def sample(families, name, suffix="", **labels):
    family = families[name]
    return sum(s.value for s in family.samples
               if s.name == name + suffix and all(s.labels.get(k) == v for k, v in labels.items()))


def test_a_scrape_before_and_after_load_counts_what_the_actors_did(tmp_path):
    data, metrics_port = tmp_path / "data", free_port()
    system = RunningSystem(data, free_port(), env=None, metrics_port=metrics_port)
    try:
        before = scrape(metrics_port)
        assert sample(before, "encore_commands", "_total") == 0
        assert sample(before, "encore_actor_up", actor="shard-0") == 1
        with Encore.attach(data) as client:
            client.ask_many([OpenAccount(account_id=f"m{i}", owner="o") for i in range(50)])
            results = client.ask_many([Deposit(account_id=f"m{i}", amount=5) for i in range(50)]
                                      + [Withdraw(account_id="m0", amount=10**6)])
            head = max(r.position for r in results)
            client.view_digest("balances", after=head)   # the view has caught up
        after = scrape(metrics_port)
    finally:
        system.stop()
    assert sample(after, "encore_commands", "_total", type="Deposit", status="accepted") == 50
    assert sample(after, "encore_commands", "_total", type="Withdraw", status="rejected") == 1
    assert sample(after, "encore_batch_size", "_count") == 2 and sample(after, "encore_batch_size", "_sum") == 101
    assert sample(after, "encore_commit_milliseconds", "_count") == 2
    assert sample(after, "encore_activation_milliseconds", "_count") == 50
    assert sample(after, "encore_live_aggregates") == 50 and sample(after, "encore_head_offset") == head
    assert sample(after, "encore_follower_checkpoint", follower="balances-0") == head
    assert sample(after, "encore_actor_memory_rss_bytes", actor="shard-0") > 10 * 2**20


def test_a_metrics_port_in_use_is_refused(tmp_path):
    with __import__("socket").socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        done = encore("start", "--port", str(free_port()), "--metrics-port", str(taken.getsockname()[1]),
                      data=tmp_path / "data")
    assert done.returncode == 2 and "choose another port" in done.stderr


def test_log_format_json_writes_one_json_object_per_line(tmp_path):
    import itertools
    import json

    data = tmp_path / "data"
    system = RunningSystem(data, free_port(), extra_args=("--log-format", "json"))
    try:
        with Encore.attach(data) as client:
            client.ask(OpenAccount(account_id="log", owner="o"))
            next(itertools.islice(client.subscribe(0), 1))   # the feed logs the subscription
    finally:
        system.stop()
    lines = [json.loads(line) for line in (data / "logs" / "encore.log").read_text().splitlines()]
    feed = [line for line in lines if line["actor"] == "encore.feed"]
    assert feed and all({"time", "level", "actor", "pid", "message"} <= set(line) for line in lines)
    assert "subscription" in feed[0]["message"] and isinstance(feed[0]["pid"], int)
