"""Celery tasks of the tenants app."""

from celery import shared_task

from .tenancy import maintenance_task
from .usage import flush_usage_counters


@shared_task(name="tenants.tasks.flush_usage")
@maintenance_task
def flush_usage():
    """Periodic: move request counters from Redis into the database."""
    return flush_usage_counters()
