"""Celery tasks of the serving app: thin wrappers around services."""

from celery import shared_task

from tenants.tenancy import maintenance_task, tenant_task

from .batch import execute_batch, expire_batch_files


@shared_task(name="recommender.serving.tasks.run_batch", acks_late=True)
@tenant_task
def run_batch(tenant_id, job_id):
    """Score a batch job's users into its file."""
    execute_batch(tenant_id, job_id)


@shared_task(name="recommender.serving.tasks.expire_batch_files")
@maintenance_task
def expire_batch_files_task():
    """Periodic: delete batch files past their expiry."""
    return expire_batch_files()
