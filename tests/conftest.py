import pytest

from loadsim import smtp as smtp_server
from storage import MemoryStore, open_store
from tests.support.system_helpers import free_port


@pytest.fixture(params=["lmdb", "lmdb-index-every-2", "memory"])
def store(request, tmp_path):
    """Every store test runs against both backends: one contract, two implementations. LMDB runs
    twice: as configured, and with its stream index catching up every 2 events."""
    if request.param == "memory":
        s = MemoryStore()
    elif request.param == "lmdb-index-every-2":
        s = open_store(tmp_path / "store", index_every=2)
    else:
        s = open_store(tmp_path / "store")
    yield s
    s.close()


@pytest.fixture
def inbox(monkeypatch):
    """A real SMTP server on 127.0.0.1, named to the systems the test starts by ENCORE_SMTP."""
    port = free_port()
    controller, inbox = smtp_server.start(port)
    monkeypatch.setenv("ENCORE_SMTP", f"127.0.0.1:{port}")
    try:
        yield inbox
    finally:
        controller.stop()
