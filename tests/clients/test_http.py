"""The HTTP door (`encore http`), driven with httpx against a live server and a launched system."""

import json
import subprocess
import sys

import httpx
import pytest

from tests.support.system_helpers import ENCORE, ROOT, RunningSystem, door_on, free_port, launched_system
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow


system = launched_system("http")


@pytest.fixture(scope="module")
def door(system):
    with door_on(system.data) as (http, base, _):
        yield http, base, system.data


def test_commands_map_their_status_to_http_codes(door):
    http, _, _ = door
    opened = http.post("/commands/OpenAccount", json={"account_id": "h1", "owner": "ann"})
    assert opened.status_code == 200 and opened.json()["position"] >= 1
    rejected = http.post("/commands/Withdraw", json={"account_id": "h1", "amount": 5})
    assert rejected.status_code == 409 and rejected.json()["code"] == "insufficient_funds"
    invalid = http.post("/commands/Deposit", json={"account_id": "h1", "amount": "lots"})
    assert invalid.status_code == 422 and invalid.json()["errors"][0]["field"] == "amount"


def test_the_idempotency_key_is_the_command_id(door):
    http, _, _ = door
    http.post("/commands/OpenAccount", json={"account_id": "h2", "owner": "ann"})
    first = http.post("/commands/Deposit", json={"account_id": "h2", "amount": 5}, headers={"Idempotency-Key": "k-1"})
    again = http.post("/commands/Deposit", json={"account_id": "h2", "amount": 5}, headers={"Idempotency-Key": "k-1"})
    assert first.json()["command_id"] == "k-1" and again.json()["duplicate"] is True
    assert again.json()["position"] == first.json()["position"]
    balance = http.get("/queries/GetBalance", params={"account_id": "h2", "after": first.json()["position"]})
    assert balance.status_code == 200 and balance.json()["balance"] == 5


def test_identical_concurrent_retries_all_get_the_first_result(door):
    from concurrent.futures import ThreadPoolExecutor

    http, base, _ = door
    http.post("/commands/OpenAccount", json={"account_id": "h30", "owner": "ann"})

    def post(_):
        with httpx.Client(base_url=base, timeout=20) as own:
            return own.post("/commands/Deposit", json={"account_id": "h30", "amount": 5},
                            headers={"Idempotency-Key": "k-30"})
    with ThreadPoolExecutor(30) as pool:
        answers = list(pool.map(post, range(30)))
    assert {a.status_code for a in answers} == {200}, [a.text for a in answers if a.status_code != 200]
    assert len({a.json()["position"] for a in answers}) == 1
    balance = http.get("/queries/GetBalance", params={"account_id": "h30", "after": answers[0].json()["position"]})
    assert balance.json()["balance"] == 5


@pytest.mark.parametrize(("path", "body", "code", "says"), [
    ("/commands/Deposit", b"{not json", 400, "not valid JSON"),
    ("/commands/Deposit", b"[1, 2]", 422, "JSON object"),
    ("/commands/Deposit", b"[" * 100_000, 400, "not valid JSON"),
    ("/commands/NoSuchThing", b"{}", 404, "known:"),
    ("/commands/Deposit", b'{"account_id": "' + b"x" * (2 << 20) + b'"}', 413, "at most"),
])
def test_bad_bodies_get_a_clear_error_and_write_nothing(door, path, body, code, says):
    http, _, _ = door
    head = http.get("/status").json()["head_offset"]
    answer = http.post(path, content=body, headers={"content-type": "application/json"})
    assert answer.status_code == code and says in answer.json()["message"]
    assert http.get("/status").json()["head_offset"] == head


@pytest.mark.parametrize(("params", "code", "says"), [
    ({"account_id": "h1", "after": "soon"}, 422, "not an integer"),
    ({"account_id": "h1", "after": "-1"}, 422, "log position"),
    ({"account_id": "h1", "timeout": "nan"}, 422, "timeout"),
    ({"account_id": "h1", "after": str(10**9), "timeout": "0.2"}, 503, "not 1000000000"),
])
def test_bad_queries_get_a_clear_error(door, params, code, says):
    http, _, _ = door
    answer = http.get("/queries/GetBalance", params=params)
    assert answer.status_code == code and says in answer.json()["message"], answer.text
    assert http.get("/queries/Nope").status_code == 404


def test_events_stream_as_server_sent_events_and_resume_by_last_event_id(door):
    http, base, _ = door
    http.post("/commands/OpenAccount", json={"account_id": "sse", "owner": "o"})
    with httpx.Client(base_url=base, timeout=10) as streaming:
        with streaming.stream("GET", "/events", params={"after": 0, "streams": "account:sse"}) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.iter_lines()
            first = _next_event(lines)
        with streaming.stream("GET", "/events", headers={"Last-Event-ID": str(first["offset"])}) as response:
            lines = response.iter_lines()
            http.post("/commands/Deposit", json={"account_id": "sse", "amount": 3})   # live
            following = _next_event(lines)
    assert first["stream"] == "account:sse" and first["type"] == "AccountOpened" and first["schema_version"] == 1
    assert following["offset"] == first["offset"] + 1


def test_a_client_that_disconnects_mid_stream_ends_its_subscription(door):
    http, base, _ = door
    http.post("/commands/OpenAccount", json={"account_id": "before-sse", "owner": "o"})
    with httpx.Client(base_url=base, timeout=10) as streaming:
        with streaming.stream("GET", "/events", params={"after": 0}) as response:
            lines = response.iter_lines()   # held: dropping the iterator closes the connection
            _next_event(lines)
            assert _feed(http)["subscriptions"] >= 1, _feed(http)
    wait_until(lambda: _feed(http)["subscriptions"] == 0, seconds=20)
    assert http.post("/commands/OpenAccount", json={"account_id": "after-sse", "owner": "o"}).status_code == 200


def test_openapi_describes_every_command_and_query(door):
    http, _, _ = door
    spec = http.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert "/commands/Deposit" in spec["paths"] and "/queries/GetBalance" in spec["paths"]
    deposit = spec["components"]["schemas"]["Deposit"]
    assert set(deposit["required"]) >= {"account_id", "amount"}
    responses = spec["paths"]["/commands/Deposit"]["post"]["responses"]
    assert responses["200"]["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/Accepted"
    assert responses["409"]["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/Rejected"
    assert {"Accepted", "Rejected", "Error"} <= set(spec["components"]["schemas"])
    query = spec["paths"]["/queries/GetBalance"]["get"]
    assert {"account_id", "after", "timeout"} <= {p["name"] for p in query["parameters"]}
    assert "/status" in spec["paths"] and "/events" in spec["paths"]


def test_the_door_refuses_a_port_in_use_and_a_missing_system(door, tmp_path):
    _, base, data = door
    port = base.rsplit(":", 1)[1]
    taken = subprocess.run([*ENCORE, "http", "--data", str(data), "--port", port], capture_output=True, text=True,
                           timeout=60, cwd=ROOT)
    assert taken.returncode == 2 and "choose another port" in taken.stderr
    nothing = subprocess.run([sys.executable, str(ROOT / "bin" / "encore"), "http", "--data", str(tmp_path),
                              "--port", str(free_port())], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert nothing.returncode == 2 and "no system is running" in nothing.stderr


def _next_event(lines):
    for line in lines:
        if line.startswith("data: "):
            return json.loads(line[6:])
    raise AssertionError("the stream ended without an event")


def _feed(http):
    return next(a for a in http.get("/status").json()["actors"] if a["role"] == "feed")


def test_events_over_sse_come_as_the_code_reads_them_and_as_stored_with_raw(tmp_path):
    from storage import AppendEntry, NewEvent, open_store

    data = tmp_path / "data"
    with open_store(data / "store") as store:   # written by an older version of the code
        store.append([AppendEntry("c1", "person:p", 0, (NewEvent("Renamed", {"name": "Ada"}, 1),))])
    system = RunningSystem(data, free_port(), app="tests.support.upcast_app:app")
    try:
        with door_on(data) as (http, _, _):
            with http.stream("GET", "/events") as response:
                read = _next_event(response.iter_lines())
            with http.stream("GET", "/events", params={"raw": 1}) as response:
                stored = _next_event(response.iter_lines())
    finally:
        system.stop()
    assert (read["data"], read["schema_version"]) == ({"full_name": "Ada"}, 2)
    assert (stored["data"], stored["schema_version"]) == ({"name": "Ada"}, 1) and stored["command_id"] == "c1"


def test_correlation_and_meta_headers_go_with_the_events_and_show_in_the_event_stream(door):
    http, base, _ = door
    opened = http.post("/commands/OpenAccount", json={"account_id": "meta-h", "owner": "o"},
                       headers={"X-Correlation-Id": "cart-5", "X-Encore-Meta-User": "ann"})
    assert opened.status_code == 200, opened.text
    bad = http.post("/commands/Deposit", json={"account_id": "meta-h", "amount": 1},
                    headers={"X-Encore-Meta-User": "a\u0007b".encode()})
    assert bad.status_code == 422 and "metadata 'user' is not usable" in bad.json()["message"]
    with http.stream("GET", "/events", params={"after": opened.json()["position"] - 1}) as response:
        shown = _next_event(response.iter_lines())
    assert shown["stream"] == "account:meta-h" and shown["correlation_id"] == "cart-5"
    assert shown["metadata"] == {"user": "ann"} and shown["causation_id"] == opened.json()["command_id"]
    state = http.get("/queries/GetBalance", params={"account_id": "meta-h", "after": opened.json()["position"]})
    assert state.json()["balance"] == 0   # the refused deposit wrote nothing
