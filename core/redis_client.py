"""One shared Redis connection pool per process, with short timeouts.

Short timeouts matter: rate limits and metering sit on every request, and when
Redis is down the platform must keep serving (limits degrade open) instead of
hanging.
"""

import functools

import redis
from django.conf import settings


@functools.cache
def get_redis() -> redis.Redis | None:
    """The process's Redis client, or ``None`` in the embedded set-up (no REDIS_URL)."""
    if not settings.REDIS_URL:
        return None
    return redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=0.25, socket_connect_timeout=0.25, health_check_interval=30
    )
