"""Celery tasks of the data layer (routed to the ``imports`` queue); each calls a service."""

from celery import shared_task

from .importing.runner import run_import as run_import_job


@shared_task(name="recommender.data.tasks.run_import")
def run_import(job_id):
    """Carry out one import job; running it again after a crash is safe."""
    run_import_job(job_id)
