"""Per-key rate limits from the tenant's plan, and per-key request metering, in Redis.

One pipelined round trip per request counts the request in the key's current
minute window and in the tenant's usage for the day. Without Redis (the
embedded set-up) the counts are kept in the process. When Redis is down,
requests are let through and the outage is logged: serving matters more than
metering.
"""

import logging
import threading
import time
from collections import Counter

from django.utils import timezone
from rest_framework.throttling import BaseThrottle

from .models import ApiKey
from .redis_client import get_redis

logger = logging.getLogger(__name__)

USAGE_KEY = "usage:{tenant_id}:{day}"
USAGE_TTL_SECONDS = 3 * 24 * 3600  # flushed to the database long before this
_outage_logged_at = 0.0
_local_counts = Counter()
_local_lock = threading.Lock()


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


def count_request(api_key, endpoint, now=None):
    """Count one request; return the key's requests so far in this minute (``None`` if unknown)."""
    now = now or time.time()
    minute = int(now // 60)
    day = timezone.now().date().isoformat()
    window_key = f"ratelimit:{api_key.pk}:{minute}"
    usage_field = f"{api_key.pk}|{endpoint}"
    client = get_redis()
    if client is None:
        with _local_lock:
            _local_counts[window_key] += 1
            _local_counts[(api_key.tenant_id, day, usage_field)] += 1
            return _local_counts[window_key]
    try:
        pipe = client.pipeline(transaction=False)
        pipe.incr(window_key)
        pipe.expire(window_key, 120)
        usage_key = USAGE_KEY.format(tenant_id=api_key.tenant_id, day=day)
        pipe.hincrby(usage_key, usage_field, 1)
        pipe.expire(usage_key, USAGE_TTL_SECONDS)
        return pipe.execute()[0]
    except Exception as exc:  # noqa: BLE001 - any Redis failure degrades open
        _log_outage(exc)
        return None


def local_usage(tenant_id):
    """Usage counted in this process (embedded set-up only): ``{(day, key_id, endpoint): count}``."""
    with _local_lock:
        return {
            (day, *field.split("|", 1)): count
            for key, count in _local_counts.items()
            if isinstance(key, tuple) and key[0] == tenant_id
            for _, day, field in [key]
        }


class ApiKeyRateThrottle(BaseThrottle):
    """429 with Retry-After once a key exceeds its tenant's requests per minute."""

    def allow_request(self, request, view):
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            return True
        now = time.time()
        count = count_request(api_key, endpoint_name(view), now)
        self._wait = 60 - (now % 60)
        return count is None or count <= api_key.tenant.plan.api_requests_per_minute

    def wait(self):
        return self._wait
