"""Prometheus metrics of a running system (`encore start --metrics-port P`), served by
prometheus_client on 127.0.0.1:P from the process that runs the system.

On each scrape the collector asks the supervisor for the status (which gathers every actor's own
report) and turns what the actors counted into metrics: commands by type and status, batch
sizes, commit and activation durations as histograms, live aggregates, activations and
passivations, follower checkpoints and lag, parked events, restarts and memory per process.
Nothing is estimated: an actor that does not answer the status is left out of that scrape
(`encore_actor_up` says which)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

HISTOGRAMS = {"batch_sizes": ("encore_batch_size", "commands per batch a shard decided"),
              "commit_ms": ("encore_commit_milliseconds", "time of a shard's durable commit (ms)"),
              "activation_ms": ("encore_activation_milliseconds", "time to activate an aggregate (ms)")}


class StatusCollector(Collector):
    def __init__(self, ask_status: Callable[[], dict[str, Any]]) -> None:
        self.ask_status = ask_status

    def collect(self) -> Iterator[Metric]:
        status = self.ask_status()
        actors = status.get("actors", [])
        yield _gauge("encore_head_offset", "the log's head offset", [([], status.get("head_offset", 0))])
        yield _gauge("encore_actor_up", "1 if the actor answered this scrape", [
            ([a["name"], a["role"]], 1 if a.get("answered") else 0) for a in actors], ["actor", "role"])
        yield _counter("encore_actor_restarts", "restarts of the actor by its supervisor", [
            ([a["name"], a["role"]], a.get("restarts", 0)) for a in actors], ["actor", "role"])
        yield _gauge("encore_actor_memory_rss_bytes", "resident memory of the actor's process", [
            ([a["name"], a["role"]], a["rss_mb"] * 2**20) for a in _fresh(actors) if "rss_mb" in a], ["actor", "role"])
        yield from _shards([a for a in _fresh(actors) if a["role"] == "shard"])
        yield from _followers([a for a in _fresh(actors) if a["role"] in ("projection", "reactor")])


def _fresh(actors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [a for a in actors if a.get("answered")]


def _shards(shards: list[dict[str, Any]]) -> Iterator[Metric]:
    commands = CounterMetricFamily("encore_commands", "commands a shard answered, by type and status",
                                   labels=["shard", "type", "status"])
    for shard in shards:
        for kind, status, count in (shard.get("measures") or {}).get("outcomes", []):
            commands.add_metric([shard["name"], kind, status], count)
    yield commands
    for key, (name, text) in HISTOGRAMS.items():
        family = HistogramMetricFamily(name, text, labels=["shard"])
        for shard in shards:
            plain = (shard.get("measures") or {}).get(key)
            if plain:
                family.add_metric([shard["name"]], [(_le(b), c) for b, c in plain["buckets"]], plain["sum"])
        yield family
    yield _gauge("encore_live_aggregates", "aggregate instances in memory", [
        ([s["name"]], s.get("live_aggregates", 0)) for s in shards], ["shard"])
    for field, text in (("activations", "aggregates activated"), ("passivations", "aggregates passivated"),
                        ("failed_batches", "batches whose commit failed")):
        yield _counter(f"encore_{field}", text, [([s["name"]], s.get(field, 0)) for s in shards], ["shard"])


def _followers(followers: list[dict[str, Any]]) -> Iterator[Metric]:
    yield _gauge("encore_follower_checkpoint", "the last log offset a follower handled", [
        ([f["name"], f["role"]], f.get("checkpoint", 0)) for f in followers], ["follower", "role"])
    yield _gauge("encore_follower_lag", "events between a follower's checkpoint and the head", [
        ([f["name"], f["role"]], f.get("lag", 0)) for f in followers], ["follower", "role"])
    yield _gauge("encore_parked_events", "a reactor's parked events", [
        ([f["name"]], len(f.get("parked") or ())) for f in followers if f["role"] == "reactor"], ["reactor"])


def _gauge(name: str, text: str, samples: list[Any], labels: list[str] | None = None) -> Metric:
    family = GaugeMetricFamily(name, text, labels=labels or [])
    for values, value in samples:
        family.add_metric(values, value)
    return family


def _counter(name: str, text: str, samples: list[Any], labels: list[str]) -> Metric:
    family = CounterMetricFamily(name, text, labels=labels)
    for values, value in samples:
        family.add_metric(values, value)
    return family


def _le(bound: float | str) -> str:
    return bound if isinstance(bound, str) else repr(float(bound))   # "+Inf" comes as it is


def serve(port: int, ask_status: Callable[[], dict[str, Any]], host: str = "127.0.0.1") -> Any:
    """Serve the metrics on host:port from a thread of this process; returns the server."""
    from prometheus_client import start_http_server

    registry = CollectorRegistry()
    registry.register(StatusCollector(ask_status))
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server
