"""Celery tasks of the training app: thin wrappers around services.

``run_training`` runs on the ``training`` queue with late acknowledgement, so a
message whose worker dies is delivered again; the run's row lock makes that safe.
"""

from celery import shared_task

from tenants.tenancy import maintenance_task, tenant_task
from tenants.turns import wait_for_a_turn

from .services import runs


@shared_task(name="recommender.training.tasks.run_training", acks_late=True, reject_on_worker_lost=True, bind=True)
@tenant_task
def run_training(self, tenant_id, run_id):
    """Train one run; send it again a little later when its tenant has no turn (``tenants.turns``)."""
    outcome = runs.execute_run(tenant_id, run_id, worker_name=self.request.hostname)
    if outcome == runs.MUST_WAIT:
        hard, soft = self.request.timelimit or (None, None)
        wait_for_a_turn(self, tenant_id, run_id, soft_time_limit=soft, time_limit=hard)
    return outcome


@shared_task(name="recommender.training.tasks.reap_stale_runs")
@maintenance_task
def reap_stale_runs():
    """Periodic: re-queue or fail runs whose worker vanished."""
    requeued, failed = runs.reap_stale_runs()
    return {"requeued": requeued, "failed": failed}


@shared_task(name="recommender.training.tasks.resend_lost_runs")
@maintenance_task
def resend_lost_runs():
    """Periodic: send again the task of runs left queued (their message was lost with a Redis restart)."""
    return runs.resend_lost_runs()


@shared_task(name="recommender.training.tasks.train_on_schedule")
@tenant_task
def train_on_schedule(tenant_id, config_id):
    """Periodic (django-celery-beat, one task per config): retrain on new data."""
    run = runs.run_on_schedule(tenant_id, config_id)
    return run.pk if run else None


@shared_task(name="recommender.training.tasks.retrain_on_drift")
@maintenance_task
def retrain_on_drift():
    """Periodic: retrain models whose data drifted past their policy since their latest version."""
    return runs.retrain_on_drift()
