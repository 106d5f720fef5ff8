"""A user's own app in a folder of its own, as the README's worked example has it: run embedded as
a script, launched with `encore start`, then sent to, queried, inspected and served over HTTP
with only the README's commands, from that folder and from elsewhere; and an app that cannot be
imported is refused at once, in one line."""

import json
import re
import subprocess
import sys
import time

import pytest

from tests.support.system_helpers import ENCORE, ROOT, door_on, free_port, kill_leftovers

pytestmark = pytest.mark.slow


def _worked_example() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## A worked example"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def _run(folder, *args, timeout=60):
    return subprocess.run([*ENCORE, *args], capture_output=True, text=True, timeout=timeout, cwd=folder)


@pytest.fixture
def project(tmp_path):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "mymodule.py").write_text(_worked_example())
    yield folder
    kill_leftovers(folder / "data")


def test_the_worked_example_runs_as_a_script_and_as_a_launched_system_from_its_own_folder(project, tmp_path):
    script = subprocess.run([sys.executable, "mymodule.py"], capture_output=True, text=True, timeout=120, cwd=project)
    assert script.returncode == 0, script.stderr
    assert "{'total': 5}" in script.stdout and "too_big" in script.stdout

    started = _run(project, "start", "--app", "mymodule:app", "--data", "./data", "--port", str(free_port()),
                   timeout=150)
    assert started.returncode == 0, started.stderr
    try:
        sent = _run(project, "send", "Add", "counter_id=c1", "amount=5", "--data", "./data")
        assert sent.returncode == 0 and json.loads(sent.stdout)["status"] == "accepted", sent.stderr
        queried = _run(project, "query", "GetTotal", "--after", "1", "--data", "./data")
        assert queried.returncode == 0 and json.loads(queried.stdout) == {"total": 5}, queried.stderr
        data = str(project / "data")   # from another folder: the system's own app folder is used
        for args in (["send", "Add", "counter_id=c2", "amount=1"], ["query", "GetTotal"], ["status"],
                     ["events"], ["state", "counter:c1"], ["followers"]):
            done = _run(tmp_path, *args, "--data", data)
            assert done.returncode == 0, (args, done.stderr)
        _serves_over_http(tmp_path, data)
    finally:
        stopped = _run(project, "stop", "--data", "./data", timeout=120)
    assert stopped.returncode == 0, stopped.stderr


def _serves_over_http(folder, data):
    with door_on(data, cwd=folder) as (http, _, _):
        answer = http.post("/commands/Add", json={"counter_id": "c3", "amount": 2})
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(("source", "says"), [
    ("import os\n\nraise RuntimeError('no database configured')\n", "RuntimeError: no database configured (at "),
    ("import no_such_module_anywhere\n", "cannot import 'broken'"),
    ("from examples.bank import app\nfrom actors.client import Encore\n\nEncore.embedded(app, 'x').close()\n",
     'if __name__ == "__main__"'),
])
def test_an_app_that_cannot_be_imported_is_refused_at_once_in_one_line(project, source, says):
    (project / "broken.py").write_text(source)
    started_at = time.monotonic()
    started = _run(project, "start", "--app", "broken:app", "--data", "./data", "--port", str(free_port()),
                   timeout=150)
    took = time.monotonic() - started_at
    assert started.returncode == 2 and took < 20, (took, started.stderr)
    assert started.stderr.count("\n") == 1 and says in started.stderr, started.stderr
    assert "Traceback" not in started.stderr


def test_the_http_door_with_an_app_it_cannot_load_says_so_in_one_line(project):
    (project / "vanishing.py").write_text("from examples.bank import app\n")
    started = _run(project, "start", "--app", "vanishing:app", "--data", "./data", "--port", str(free_port()),
                   timeout=150)
    assert started.returncode == 0, started.stderr
    try:
        (project / "vanishing.py").unlink()   # the app's module is gone: the door cannot load it
        door = _run(project, "http", "--data", "./data", "--port", str(free_port()))
    finally:
        _run(project, "stop", "--data", "./data", timeout=120)
    assert door.returncode == 2 and door.stderr.count("\n") == 1 and "cannot import 'vanishing'" in door.stderr, \
        door.stderr


def test_loadsim_runs_a_workload_against_an_app_in_its_own_folder(project, tmp_path):
    (project / "mine.py").write_text("from examples.bank import app\n")
    ran = subprocess.run([sys.executable, str(ROOT / "bin" / "loadsim"), "bank", "--app", "mine:app",
                          "--app-dir", str(project), "--quick", "--no-progress"],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert ran.returncode == 0 and "every check held" in ran.stdout, ran.stderr[-2000:]
