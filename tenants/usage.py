"""Usage metering: moving Redis counters into the database, and reading usage for a tenant."""

import logging
import uuid
from collections import defaultdict
from datetime import date, timedelta

import redis
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from core.redis_client import get_redis

from .models import ApiKey, ApiUsage, Tenant
from .throttling import flush, local_usage

logger = logging.getLogger(__name__)


def _claim(client, name, parking):
    """Rename a counter hash out of the way; False when another flusher took it first."""
    try:
        client.rename(name, parking)
    except redis.ResponseError:  # "no such key"
        return False
    return True


def _add(tenant_id, day, api_key_id, endpoint, count):
    api_key_id = int(api_key_id) if ApiKey.objects.filter(pk=api_key_id, tenant_id=tenant_id).exists() else None
    row, created = ApiUsage.objects.get_or_create(
        tenant_id=tenant_id, day=day, api_key_id=api_key_id, endpoint=endpoint, defaults={"count": count}
    )
    if not created:
        ApiUsage.objects.filter(pk=row.pk, tenant_id=tenant_id).update(count=F("count") + count)


def flush_usage_counters():
    """Move every Redis usage counter into ApiUsage rows; returns the number of counters moved."""
    client = get_redis()
    if client is None:
        return 0
    moved = 0
    for key in client.scan_iter(match="usage:*", count=500):
        name = key.decode()
        _, tenant_id, day = name.split(":", 2)
        # Renaming first makes the read-and-delete atomic with respect to new increments.
        parking = f"usage-flush:{uuid.uuid4().hex}"
        if not _claim(client, name, parking):
            continue
        counters = client.hgetall(parking)
        if not Tenant.objects.filter(pk=int(tenant_id)).exists():
            counters = {}  # the tenant was deleted: its usage goes with it
        with transaction.atomic():
            for field, count in counters.items():
                api_key_id, _, endpoint = field.decode().partition("|")
                _add(int(tenant_id), date.fromisoformat(day), api_key_id, endpoint, int(count))
                moved += 1
        client.delete(parking)
    return moved


def _pending_counts(tenant_id, days):
    """Counts not yet flushed: ``{(day, api_key_id, endpoint): count}``.

    This process's own counts are sent to Redis first; other processes' arrive
    within half of METERING_SECONDS (see tenants.throttling).
    """
    client = get_redis()
    if client is None:
        return local_usage(tenant_id)
    flush()
    pending = {}
    try:
        for day in days:
            for field, count in client.hgetall(f"usage:{tenant_id}:{day.isoformat()}").items():
                api_key_id, _, endpoint = field.decode().partition("|")
                pending[(day.isoformat(), api_key_id, endpoint)] = int(count)
    except redis.RedisError as exc:
        logger.warning("Usage read without Redis (%s): showing flushed counts only", exc)
    return pending


def usage_of(tenant, days=30):
    """Requests by day and by endpoint over the last ``days`` days, with the plan's limits."""
    today = timezone.now().date()
    window = [today - timedelta(days=offset) for offset in range(days)]
    by_day = defaultdict(int)
    by_endpoint = defaultdict(int)
    rows = (
        ApiUsage.objects.for_tenant(tenant)
        .filter(day__gte=window[-1])
        .values("day", "endpoint")
        .annotate(total=Sum("count"))
    )
    for row in rows:
        by_day[row["day"].isoformat()] += row["total"]
        by_endpoint[row["endpoint"]] += row["total"]
    for (day, _, endpoint), count in _pending_counts(tenant.pk, window).items():
        if day >= window[-1].isoformat():
            by_day[day] += count
            by_endpoint[endpoint] += count
    return {
        "days": [{"day": day.isoformat(), "requests": by_day.get(day.isoformat(), 0)} for day in reversed(window)],
        "endpoints": dict(sorted(by_endpoint.items(), key=lambda item: -item[1])),
        "total": sum(by_day.values()),
    }
