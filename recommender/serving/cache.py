"""A small per-process cache whose entries expire, for look-ups on the request path.

Serving re-reads what can change (deployments, deactivated items, erasures, a
tenant's keys) at most once per ``ttl`` seconds per process, instead of on every
request; a change is therefore seen everywhere within ``ttl`` seconds.
"""

import threading
import time
import weakref

_every_cache = weakref.WeakSet()


def clear_every_cache():
    """Empty every TtlCache of this process (tests, and after rolling back data)."""
    for cache in list(_every_cache):
        cache.clear()


class TtlCache:
    """``get(key, compute)`` returns a value computed at most ``ttl`` seconds ago."""

    def __init__(self, ttl, max_entries=10_000):
        self.ttl, self.max_entries = ttl, max_entries
        self._entries = {}
        self._lock = threading.Lock()
        _every_cache.add(self)

    def get(self, key, compute):
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            return entry[1]
        value = compute()
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = (now + self._ttl_seconds(), value)
        return value

    def _ttl_seconds(self):
        return self.ttl() if callable(self.ttl) else self.ttl

    def clear(self):
        with self._lock:
            self._entries.clear()
