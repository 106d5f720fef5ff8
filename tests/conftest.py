import pytest

from storage import MemoryStore, open_store


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
