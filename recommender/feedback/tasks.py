"""Celery tasks of the feedback app: thin wrappers around services."""

from celery import shared_task

from tenants.tenancy import maintenance_task

from .services import aggregate_metrics


@shared_task(name="recommender.feedback.tasks.aggregate")
@maintenance_task
def aggregate():
    """Periodic: store queued impressions, recompute recent metric buckets, check running experiments."""
    return aggregate_metrics()
