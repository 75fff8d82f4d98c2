"""Small per-process caches whose entries expire, for look-ups on the request path (on ``cachetools``).

Serving and key look-ups re-read what can change (deployments, deactivated items, erasures, a
tenant's keys) at most once per ``ttl`` seconds per process, instead of on every request; a change is
therefore seen everywhere within ``ttl`` seconds. ``cachetools`` keeps the entries (expiry, and the
least recently used entry leaves first when a cache is full); its caches are not thread-safe, so each
one here has a lock, held for the look-up and the store but not while the value is computed.
"""

import threading
import weakref
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from cachetools import TLRUCache

V = TypeVar("V")

_every_cache: "weakref.WeakSet[TtlCache[Any]]" = weakref.WeakSet()


def clear_every_cache() -> None:
    """Empty every TtlCache of this process (tests, and after rolling back data)."""
    for cache in list(_every_cache):
        cache.clear()


def _constant(seconds: float) -> Callable[[], float]:
    return lambda: seconds


class TtlCache(Generic[V]):
    """``get(key, compute)`` returns a value computed at most ``ttl`` seconds ago.

    ``ttl`` is a number of seconds or a function returning one; it is read when an entry is stored,
    so a changed setting applies from the next entry on (and 0 stores nothing).
    """

    def __init__(self, ttl: float | Callable[[], float], max_entries: int = 10_000) -> None:
        seconds = ttl if callable(ttl) else _constant(ttl)
        self._entries: TLRUCache[Hashable, V] = TLRUCache(
            maxsize=max_entries, ttu=lambda _key, _value, now: now + seconds()
        )
        self._lock = threading.Lock()
        _every_cache.add(self)

    def get(self, key: Hashable, compute: Callable[[], V]) -> V:
        with self._lock:
            try:
                return self._entries[key]
            except KeyError:
                pass
        # Computed outside the lock: a slow database read must not hold up the other keys.
        value = compute()
        with self._lock:
            self._entries[key] = value
        return value

    def forget(self, key: Hashable) -> None:
        """Drop one entry (the next ``get`` computes it again)."""
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
