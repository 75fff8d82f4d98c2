"""Per-key rate limits from the tenant's plan, and per-key request metering, counted in the process.

A request is counted in memory: in its key's minute window and in its tenant's
usage for the day. A thread in each process sends what it counted to Redis in
one pipelined round trip every half ``METERING_SECONDS`` (1 s by default), and
learns from the answers how many requests every process counted in each window.
So a busy key costs no round trip on the request path, and the limit still holds
across processes:

- a process trusts a window's shared count for at most ``METERING_SECONDS``, and
  only while the count is at most half the plan's limit; otherwise (a key's first
  request in a minute, a quiet key, a key past half its limit) the request is
  counted in Redis before it is answered, as every request used to be;
- so a key can go over its limit only by what the other processes let through
  for it in the last ``METERING_SECONDS`` before they too saw it past half: only
  a key that sends more than half its per-minute limit within one second can
  get there (docs/architecture.md, "Rate limits and usage");
- usage reaches Redis within half of ``METERING_SECONDS``, and at the latest
  when the process exits normally; a process killed outright (SIGKILL, out of
  memory) loses at most that half second of its counts.

Without Redis (the embedded set-up) the counts stay in the process. When Redis
is down, requests are let through, counts are kept until it is back, and the
outage is logged: serving matters more than metering.
"""

import atexit
import logging
import os
import threading
import time
from collections import Counter

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from core.redis_client import get_redis

from .models import ApiKey

logger = logging.getLogger(__name__)

USAGE_KEY = "usage:{tenant_id}:{day}"
USAGE_TTL_SECONDS = 3 * 24 * 3600  # flushed to the database long before this
WINDOW_KEY = "ratelimit:{key_id}:{minute}"
WINDOW_TTL_SECONDS = 120
_outage_logged_at = 0.0

_lock = threading.Lock()
# (key id, minute) -> [shared count as last read from Redis, monotonic time of that read, counted here since]
_windows = {}
# (tenant id, day, "key id|endpoint") -> requests counted here and not yet in Redis (all of them without Redis)
_usage = Counter()
_flusher_started = False


def _metering_seconds():
    return settings.PLATFORM["METERING_SECONDS"]


def endpoint_name(view):
    """A stable name for metering: the view's basename and action, or its class."""
    basename, action = getattr(view, "basename", None), getattr(view, "action", None)
    if basename:
        return f"{basename}.{action}" if action else basename
    return getattr(view, "metering_name", type(view).__name__)


def _log_outage(exc):
    global _outage_logged_at
    if time.monotonic() - _outage_logged_at > 30:
        _outage_logged_at = time.monotonic()
        logger.warning("Redis unavailable (%s): rate limits are not enforced and usage is not metered", exc)


def _day(now):
    """The UTC day of a Unix time, as the usage counters name it (TIME_ZONE is UTC)."""
    return time.strftime("%Y-%m-%d", time.gmtime(now))


def count_request(api_key, endpoint, limit, now=None):
    """Count one request; return the key's requests so far in this minute, all processes (``None`` if unknown)."""
    now = now or time.time()
    minute = int(now // 60)
    window = (api_key.pk, minute)
    client = get_redis()
    with _lock:
        _usage[(api_key.tenant_id, _day(now), f"{api_key.pk}|{endpoint}")] += 1
        counts = _windows.get(window)
        if counts is None:
            if len(_windows) >= 10_000:
                _forget_old_windows(minute)
            counts = _windows[window] = [0, float("-inf"), 0]
        counts[2] += 1
        estimate = counts[0] + counts[2]
        if client is None:
            return estimate
        fresh = time.monotonic() - counts[1] <= _metering_seconds()
        if fresh and estimate * 2 <= limit:
            _start_flusher()
            return estimate
        pending, counts[2] = counts[2], 0
    try:
        pipe = client.pipeline(transaction=False)
        name = WINDOW_KEY.format(key_id=api_key.pk, minute=minute)
        pipe.incrby(name, pending)
        pipe.expire(name, WINDOW_TTL_SECONDS)
        shared = pipe.execute()[0]
    except Exception as exc:  # noqa: BLE001 - any Redis failure degrades open
        _log_outage(exc)
        with _lock:
            counts[2] += pending  # sent with the next flush
        return None
    with _lock:
        counts[0], counts[1] = max(counts[0], shared), time.monotonic()
        _start_flusher()
        return counts[0] + counts[2]


def _forget_old_windows(minute):
    for window in [window for window in _windows if window[1] < minute - 1]:
        del _windows[window]


def flush():
    """Send this process's counts to Redis now; the flusher thread calls this, and so do usage reads."""
    client = get_redis()
    if client is None:
        return
    with _lock:
        usage = dict(_usage)
        _usage.clear()
        windows = [(window, counts[2]) for window, counts in _windows.items() if counts[2]]
        for window, _ in windows:
            _windows[window][2] = 0
        _forget_old_windows(int(time.time() // 60))
    if not usage and not windows:
        return
    try:
        pipe = client.pipeline(transaction=False)
        for (key_id, minute), pending in windows:
            name = WINDOW_KEY.format(key_id=key_id, minute=minute)
            pipe.incrby(name, pending)
            pipe.expire(name, WINDOW_TTL_SECONDS)
        for (tenant_id, day), fields in _by_hash(usage).items():
            name = USAGE_KEY.format(tenant_id=tenant_id, day=day)
            for field, count in fields.items():
                pipe.hincrby(name, field, count)
            pipe.expire(name, USAGE_TTL_SECONDS)
        answers = pipe.execute()
    except Exception as exc:  # noqa: BLE001 - kept for the next flush
        _log_outage(exc)
        with _lock:
            _usage.update(usage)
            for window, pending in windows:
                if window in _windows:
                    _windows[window][2] += pending
        return
    read_at = time.monotonic()
    with _lock:
        for (window, _), shared in zip(windows, answers[: 2 * len(windows) : 2], strict=True):
            counts = _windows.get(window)
            if counts is not None:
                counts[0], counts[1] = max(counts[0], shared), read_at


def _by_hash(usage):
    hashes = {}
    for (tenant_id, day, field), count in usage.items():
        hashes.setdefault((tenant_id, day), {})[field] = count
    return hashes


def _flush_forever():
    while True:
        time.sleep(_metering_seconds() / 2)
        try:
            flush()
        except Exception:  # a bug here must not stop metering for the life of the process
            logger.exception("Flushing request counts failed")


def _start_flusher():
    """Start this process's flusher thread on its first count."""
    global _flusher_started
    if not _flusher_started:
        _flusher_started = True
        threading.Thread(target=_flush_forever, name="request-counts-flusher", daemon=True).start()


def _after_fork():
    """A forked child (a gunicorn worker, a Celery child) has no threads: it starts its own flusher."""
    global _flusher_started, _lock
    _flusher_started = False
    _lock = threading.Lock()  # the parent's flusher may have held it at the fork
    _windows.clear()
    _usage.clear()  # the parent sends its own counts


os.register_at_fork(after_in_child=_after_fork)


atexit.register(flush)  # a worker stopped normally (restart, deploy, scale down) loses no counts


def local_usage(tenant_id):
    """Usage counted in this process (embedded set-up only): ``{(day, key_id, endpoint): count}``."""
    with _lock:
        return {
            (day, *field.split("|", 1)): count
            for (counted_tenant, day, field), count in _usage.items()
            if counted_tenant == tenant_id
        }


class ApiKeyRateThrottle(BaseThrottle):
    """429 with Retry-After once a key exceeds its tenant's requests per minute."""

    def allow_request(self, request, view):
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            return True
        now = time.time()
        limit = api_key.tenant.plan.api_requests_per_minute
        count = count_request(api_key, endpoint_name(view), limit, now)
        self._wait = 60 - (now % 60)
        return count is None or count <= limit

    def wait(self):
        return self._wait
