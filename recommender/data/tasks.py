"""Celery tasks of the data layer (routed to the ``imports`` queue); each calls a service."""

from celery import shared_task

from tenants.tenancy import maintenance_task, tenant_task

from .importing.runner import reap_orphaned_imports as reap_orphaned_import_jobs
from .importing.runner import run_import as run_import_job
from .models import Dataset
from .retention import sweep_kept_uploads
from .services import refresh_dataset_stats
from .services import resend_lost_imports as resend_lost_import_jobs


@shared_task(name="recommender.data.tasks.run_import")
@tenant_task
def run_import(tenant_id, job_id):
    """Carry out one import job of ``tenant_id``; running it again after a crash is safe."""
    run_import_job(job_id, tenant_id=tenant_id)


@shared_task(name="recommender.data.tasks.refresh_stats")
@tenant_task
def refresh_stats(tenant_id, dataset_id):
    """Recompute the statistics of a dataset of ``tenant_id`` (queued after each import)."""
    dataset = Dataset.objects.for_tenant(tenant_id).select_related("tenant").filter(pk=dataset_id).first()
    if dataset is not None:
        refresh_dataset_stats(dataset)


@shared_task(name="recommender.data.tasks.reap_orphaned_imports")
@maintenance_task
def reap_orphaned_imports():
    """Periodic: fail imports whose worker died mid-way (they would show "running" for an hour otherwise)."""
    return reap_orphaned_import_jobs()


@shared_task(name="recommender.data.tasks.resend_lost_imports")
@maintenance_task
def resend_lost_imports():
    """Periodic: send again the task of imports left queued (their message was lost with a Redis restart)."""
    return resend_lost_import_jobs()


@shared_task(name="recommender.data.tasks.sweep_kept_uploads")
@maintenance_task
def sweep_kept_uploads_task():
    """Periodic: delete uploads of failed imports kept past their time."""
    return sweep_kept_uploads()
