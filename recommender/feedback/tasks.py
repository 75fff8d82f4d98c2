"""Celery tasks of the feedback app: thin wrappers around services."""

from celery import shared_task

from .services import aggregate_metrics


@shared_task(name="recommender.feedback.tasks.aggregate")
def aggregate():
    """Periodic: store queued impressions, recompute recent metric buckets, check running experiments."""
    return aggregate_metrics()
