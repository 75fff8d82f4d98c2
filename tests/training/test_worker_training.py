"""Training on a real Celery worker process: survive cancellation, crashes, duplicates and limits."""

from datetime import timedelta

import pytest
from django.utils import timezone

from recommender.training.models import Deployment, ModelVersion, RunStatus, TrainingRun
from recommender.training.services.runs import reap_stale_runs
from recommender.training.tasks import run_training
from tenants.models import Plan

from ..factories import make_interactions_dataset
from ..worker import wait_until

pytestmark = [pytest.mark.worker]

# Slow enough to be caught mid-run, small enough for CI.
SLOW_NEUMF = {"epochs": 60, "gmf_dim": 8, "mlp_dim": 8, "mlp_layers": [16, 8], "batch_size": 32, "negatives": 4}


def _create_and_train(client, dataset, slug, **config):
    created = client.post(
        "/api/v1/models", {"name": slug, "slug": slug, "dataset": dataset.pk, **config}, format="json"
    )
    assert created.status_code == 201, created.json()
    response = client.post(f"/api/v1/models/{slug}/train", {}, format="json")
    assert response.status_code == 202
    return response.json()["id"]


def _run(client, run_id):
    return client.get(f"/api/v1/runs/{run_id}").json()


def _finished(client, run_id):
    run = _run(client, run_id)
    return run if run["status"] in ("succeeded", "failed", "cancelled") else None


def _artifact_files(settings, tenant, run_id):
    return [p for p in settings.MEDIA_ROOT.glob(f"tenants/{tenant.pk}/models/*/run-{run_id}/**/*") if p.is_file()]


def test_train_version_deploy_and_serve_on_a_worker(celery_worker, tenant_a):
    dataset = make_interactions_dataset(tenant_a.tenant)
    run_id = _create_and_train(tenant_a.client, dataset, "recs", recipe="ease")
    run = wait_until(lambda: _finished(tenant_a.client, run_id), 120, message="training to finish")
    assert run["status"] == "succeeded", run["error"] + celery_worker.log()[-3000:]
    assert run["worker"].startswith("test-")
    answer = tenant_a.client.get("/api/v1/models/recs/recommendations", {"user_id": "u1", "k": 5}).json()
    assert answer["version"] == 1 and len(answer["items"]) == 5 and answer["fallback"] is None


def test_cancel_mid_run_stops_between_epochs(celery_worker, tenant_a, settings):
    dataset = make_interactions_dataset(tenant_a.tenant)
    run_id = _create_and_train(tenant_a.client, dataset, "slow", recipe="neumf", params=SLOW_NEUMF)
    wait_until(lambda: _run(tenant_a.client, run_id)["current_epoch"] >= 1, 120, message="a first epoch")
    assert tenant_a.client.post(f"/api/v1/runs/{run_id}/cancel").status_code == 200
    run = wait_until(lambda: _finished(tenant_a.client, run_id), 60, message="the cancellation")
    assert run["status"] == "cancelled"
    assert run["current_epoch"] < SLOW_NEUMF["epochs"]
    assert not ModelVersion.objects.unscoped().filter(run_id=run_id).exists()
    assert _artifact_files(settings, tenant_a.tenant, run_id) == []


def test_worker_killed_mid_run_is_reaped_and_the_deployed_version_keeps_serving(start_worker, tenant_a, settings):
    first_worker = start_worker()
    dataset = make_interactions_dataset(tenant_a.tenant)
    good = _create_and_train(tenant_a.client, dataset, "recs", recipe="popularity", auto_deploy="always")
    wait_until(lambda: _finished(tenant_a.client, good), 60, message="the first version")

    tenant_a.client.patch("/api/v1/models/recs", {"recipe": "neumf", "params": SLOW_NEUMF}, format="json")
    doomed = tenant_a.client.post("/api/v1/models/recs/train", {}, format="json").json()["id"]
    wait_until(lambda: _run(tenant_a.client, doomed)["current_epoch"] >= 1, 120, message="a first epoch")
    first_worker.kill()

    # The heartbeat stops; the reaper (run here instead of waiting for beat) re-queues once, then fails.
    TrainingRun.objects.unscoped().filter(pk=doomed).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    requeued, failed = reap_stale_runs(stale_after=timedelta(seconds=30))
    assert requeued == [doomed] and failed == []
    assert _run(tenant_a.client, doomed)["status"] == "queued"
    assert _artifact_files(settings, tenant_a.tenant, doomed) == []

    # Meanwhile version 1 keeps serving.
    answer = tenant_a.client.get("/api/v1/models/recs/recommendations", {"user_id": "u1"}).json()
    assert answer["version"] == 1 and answer["items"]

    # Crash again on the second attempt: now it is failed, with a reason, never stuck.
    second_worker = start_worker()

    def retry_training():
        run = _run(tenant_a.client, doomed)
        return run["attempts"] == 2 and run["current_epoch"] >= 1

    wait_until(retry_training, 120, message="the retry to start")
    second_worker.kill()
    TrainingRun.objects.unscoped().filter(pk=doomed).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    assert reap_stale_runs(stale_after=timedelta(seconds=30)) == ([], [doomed])
    run = _run(tenant_a.client, doomed)
    assert run["status"] == "failed" and "stopped responding" in run["error"]
    assert Deployment.objects.unscoped().get(config__slug="recs").version.number == 1
    assert _artifact_files(settings, tenant_a.tenant, doomed) == []


def test_a_duplicated_task_message_trains_once(celery_worker, tenant_a):
    dataset = make_interactions_dataset(tenant_a.tenant)
    run_id = _create_and_train(tenant_a.client, dataset, "recs", recipe="ease")
    for _ in range(3):  # the same message again, as a broker re-delivery would
        run_training.apply_async(args=[tenant_a.tenant.pk, run_id])
    run = wait_until(lambda: _finished(tenant_a.client, run_id), 120, message="training to finish")
    assert run["status"] == "succeeded" and run["attempts"] == 1
    wait_until(lambda: "already handled" in celery_worker.log(), 30, message="duplicates to be dropped")
    assert ModelVersion.objects.unscoped().filter(config__slug="recs").count() == 1


def test_a_foreign_run_id_is_never_trained(celery_worker, tenant_a, tenant_b):
    dataset = make_interactions_dataset(tenant_a.tenant)
    tenant_a.client.post("/api/v1/models", {"name": "recs", "dataset": dataset.pk, "recipe": "ease"}, format="json")
    run_id = tenant_a.client.post("/api/v1/models/recs/train", {}, format="json").json()["id"]
    wait_until(lambda: _finished(tenant_a.client, run_id), 120, message="training to finish")
    TrainingRun.objects.unscoped().filter(pk=run_id).update(status=RunStatus.QUEUED)
    run_training.apply_async(args=[tenant_b.tenant.pk, run_id])  # tenant B names A's run
    wait_until(lambda: "already handled" in celery_worker.log(), 30, message="the foreign id to be refused")
    assert TrainingRun.objects.unscoped().get(pk=run_id).status == RunStatus.QUEUED


def test_per_tenant_concurrency_limit_queues_extra_runs(start_worker, tenant_a):
    tenant_a.tenant.plan = Plan.objects.create(name="one-at-a-time", max_concurrent_trainings=1)
    tenant_a.tenant.save()
    start_worker(concurrency=2)
    dataset = make_interactions_dataset(tenant_a.tenant)
    params = {**SLOW_NEUMF, "epochs": 6}
    first = _create_and_train(tenant_a.client, dataset, "one", recipe="neumf", params=params)
    second = _create_and_train(tenant_a.client, dataset, "two", recipe="neumf", params=params)

    overlaps = []

    def both_done():
        statuses = list(TrainingRun.objects.unscoped().filter(pk__in=[first, second]).values_list("status", flat=True))
        overlaps.append(statuses.count("running") > 1)
        return all(status == "succeeded" for status in statuses)

    wait_until(both_done, 180, interval=0.05, message="both runs")
    assert not any(overlaps)
    runs = TrainingRun.objects.unscoped().filter(pk__in=[first, second]).order_by("started_at")
    assert runs[1].started_at >= runs[0].finished_at
