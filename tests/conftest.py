import pytest

from storage import MemoryStore, open_store


@pytest.fixture(params=["lmdb", "memory"])
def store(request, tmp_path):
    """Every store test runs against both backends: one contract, two implementations."""
    if request.param == "memory":
        s = MemoryStore()
    else:
        s = open_store(tmp_path / "store")
    yield s
    s.close()
