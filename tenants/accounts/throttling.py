"""Login throttling: repeated failed sign-ins for one username from one address lock it for a while.

The address is the client's as ``core.http.client_address`` finds it, so behind a load
balancer one client's failures do not lock everybody else out.

Counters live in the shared cache (Redis in production), so every web process
sees them. When the cache is unreachable sign-in still works: throttling
degrades open rather than locking everybody out.
"""

import hashlib
import logging

from django.core.cache import cache

logger = logging.getLogger(__name__)

MAX_FAILURES = 5
LOCK_SECONDS = 300


def _key(username, address):
    digest = hashlib.sha256(f"{username.lower()}|{address}".encode()).hexdigest()
    return f"portal:login-failures:{digest}"


def _cache(method, *args, default=None):
    try:
        return getattr(cache, method)(*args)
    except Exception as exc:  # any cache failure: throttling is best effort
        logger.warning("Login throttle unavailable (%s)", exc)
        return default


def is_locked(username, address):
    """Whether ``username`` has failed too often from ``address`` within the lock window."""
    return _cache("get", _key(username, address), 0, default=0) >= MAX_FAILURES


def record_failure(username, address):
    """Count one failed sign-in; the lock window starts at the first failure."""
    key = _key(username, address)
    _cache("add", key, 0, LOCK_SECONDS)
    _cache("incr", key)


def clear_failures(username, address):
    """Forget the failures after a successful sign-in."""
    _cache("delete", _key(username, address))


RATE_PREFIX = "portal:rate:"


def _rate_key(action, who):
    digest = hashlib.sha256(f"{action}|{who}".encode()).hexdigest()
    return f"{RATE_PREFIX}{digest}"


def take(action, who, *, limit, window_seconds):
    """Count one ``action`` by ``who`` (an address, a user id); False when it is over ``limit`` in the window.

    Like the sign-in lock, this degrades open when the cache is unreachable.
    """
    key = _rate_key(action, who)
    _cache("add", key, 0, window_seconds)
    count = _cache("incr", key, default=0)
    return count is None or count <= limit
