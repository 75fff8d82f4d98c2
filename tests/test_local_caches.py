"""The per-process caches (core.cache on cachetools) and the serving loader's scorer cache bounded in bytes."""

from types import SimpleNamespace

import pytest

from core.cache import TtlCache, clear_every_cache
from recommender.serving import loader


class Reads:
    """A compute function that counts how often the cache had to call it."""

    def __init__(self):
        self.count = 0

    def __call__(self):
        self.count += 1
        return f"value {self.count}"


def test_a_value_is_computed_once_while_fresh_and_again_after_it_is_forgotten():
    cache, read = TtlCache(3600), Reads()
    assert cache.get("key", read) == cache.get("key", read) == "value 1"
    cache.forget("key")
    assert cache.get("key", read) == "value 2"
    clear_every_cache()
    assert cache.get("key", read) == "value 3" and read.count == 3


def test_the_lifetime_is_read_when_an_entry_is_stored_and_zero_keeps_nothing():
    seconds = {"ttl": 3600}
    cache, read = TtlCache(lambda: seconds["ttl"]), Reads()
    cache.get("kept", read)
    seconds["ttl"] = 0  # as tests and operators do with PLATFORM_LOCAL_CACHE_SECONDS
    cache.get("not kept", read)
    cache.get("not kept", read)
    cache.get("kept", read)
    assert read.count == 3


def test_a_full_cache_drops_its_least_recently_used_entry_not_everything():
    cache = TtlCache(3600, max_entries=2)
    reads = {name: Reads() for name in "abc"}
    cache.get("a", reads["a"])
    cache.get("b", reads["b"])
    cache.get("a", reads["a"])  # a is now the most recently used
    cache.get("c", reads["c"])  # full: b leaves
    cache.get("a", reads["a"])
    cache.get("c", reads["c"])
    cache.get("b", reads["b"])
    assert {name: read.count for name, read in reads.items()} == {"a": 1, "b": 2, "c": 1}


@pytest.fixture
def fake_scorers(monkeypatch):
    """Loading a version gives a stand-in scorer whose size is the artifact path's number of MiB."""
    loads = []

    def load_scorer(path):
        loads.append(path)
        return SimpleNamespace(nbytes=int(path) * 2**20)

    monkeypatch.setattr(loader, "local_artifact_dir", lambda path: path)
    monkeypatch.setattr(loader.ml, "load_scorer", load_scorer)
    loader.forget_all()
    yield loads
    loader.forget_all()


def test_loaded_scorers_leave_least_recently_used_first_once_past_the_byte_budget(fake_scorers):
    budget_mib = loader._scorers.maxsize // 2**20  # SERVING_CACHE_BYTES, read when the process starts
    third = str(budget_mib // 3)
    for version in (1, 2, 1, 3):  # 1 is used again, so 2 is the least recently used when 3 arrives
        loader.version_scorer(version, third)
    loader.version_scorer(4, third)  # over the budget: 2 leaves
    loader.version_scorer(2, third)
    assert fake_scorers == [third] * 5


def test_a_scorer_larger_than_the_whole_budget_is_still_kept_alone(fake_scorers):
    budget_mib = loader._scorers.maxsize // 2**20
    small, huge = str(budget_mib // 4), str(budget_mib * 2)
    loader.version_scorer(1, small)
    loader.version_scorer(2, huge)
    loader.version_scorer(2, huge)  # served from the cache
    loader.version_scorer(1, small)  # pushed out by the huge one
    assert fake_scorers == [small, huge, small]
