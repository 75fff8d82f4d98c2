"""Every queue of long jobs (imports, training runs, batch files) takes per-tenant limits and fair turns.

Issue 14 (5) and issue 15 (8): one tenant's many or large jobs never queue another tenant's small job
behind them. A tenant runs at most its plan's number of a queue's jobs at once, and a tenant that
already runs one yields to another tenant that has one waiting and runs fewer. The dispatch tests
call what a worker calls on each message, with the real database; the last one fires imports of two
tenants at a real worker.
"""

import os
import threading
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction

from recommender.data import tasks as data_tasks
from recommender.data.importing.runner import run_import
from recommender.data.models import Dataset, ImportJob
from recommender.training.models import RunStatus, TrainingRun
from recommender.training.services import runs
from recommender.training.services.runs import claim_run
from tenants.models import Plan, Tenant
from tenants.turns import lock_tenant

from .factories import make_interactions_dataset
from .worker import wait_until


def _clicks(rows):
    return "user_id,item_id,timestamp\n" + "".join(f"u{n % 50},i{n % 30},{1_700_000_000 + n}\n" for n in range(rows))


def _on_plan(world, **limits):
    world.tenant.plan = Plan.objects.create(name=f"plan of {world.tenant.name}", **limits)
    world.tenant.save()


def _queue_import(world, rows=20):
    """POST an import; its message is not delivered (the test hands it to the runner itself)."""
    dataset = Dataset.objects.create(
        tenant=world.tenant, name=f"d{Dataset.objects.unscoped().count()}", kind="interactions"
    )
    response = world.client.post(
        f"/api/v1/datasets/{dataset.pk}/imports",
        {"file": SimpleUploadedFile("clicks.csv", _clicks(rows).encode())},
        format="multipart",
    )
    assert response.status_code == 202, response.content
    return response.json()["id"]


@pytest.fixture
def resent(monkeypatch):
    """The import messages sent again to wait for a turn: [(args, countdown)]."""
    sent = []
    monkeypatch.setattr(
        data_tasks.run_import, "apply_async", lambda args, countdown=None, **kw: sent.append((list(args), countdown))
    )
    return sent


def _status(job_id):
    return ImportJob.objects.unscoped().get(pk=job_id).status


@pytest.mark.django_db
def test_a_tenant_at_its_imports_at_once_waits_without_running_and_its_message_comes_back(tenant_b, resent):
    _on_plan(tenant_b, max_concurrent_imports=1)
    running = _queue_import(tenant_b)
    ImportJob.objects.unscoped().filter(pk=running).update(status=ImportJob.Status.RUNNING)
    waiting = _queue_import(tenant_b)

    run_import(waiting, tenant_id=tenant_b.tenant.pk)

    assert _status(waiting) == "queued", "a second import ran beside the first on a plan of one at once"
    assert resent == [([tenant_b.tenant.pk, waiting], 5)]  # TURN_WAIT_SECONDS later, to the back of the queue
    ImportJob.objects.unscoped().filter(pk=running).update(status=ImportJob.Status.SUCCEEDED)
    run_import(waiting, tenant_id=tenant_b.tenant.pk)
    assert _status(waiting) == "succeeded"


@pytest.mark.django_db
def test_a_tenant_running_an_import_yields_the_next_turn_to_another_tenant_waiting(tenant_a, tenant_b, resent):
    _on_plan(tenant_b, max_concurrent_imports=3)
    running = _queue_import(tenant_b)
    ImportJob.objects.unscoped().filter(pk=running).update(status=ImportJob.Status.RUNNING)
    b_next = _queue_import(tenant_b)
    a_small = _queue_import(tenant_a)

    # B is within its plan (1 of 3), but A waits running none: B's job goes to the back, A's runs.
    run_import(b_next, tenant_id=tenant_b.tenant.pk)
    assert _status(b_next) == "queued" and [args for args, _ in resent] == [[tenant_b.tenant.pk, b_next]]
    run_import(a_small, tenant_id=tenant_a.tenant.pk)
    assert _status(a_small) == "succeeded"
    # Nobody else waits now: B uses its plan's imports at once.
    run_import(b_next, tenant_id=tenant_b.tenant.pk)
    assert _status(b_next) == "succeeded"


@pytest.mark.django_db
def test_a_tenant_running_nothing_never_yields(tenant_a, tenant_b, resent):
    """Another tenant's waiting rows (even one whose message was lost) cannot stop a tenant's first job."""
    _on_plan(tenant_a, max_concurrent_imports=1)
    a_running = _queue_import(tenant_a)
    ImportJob.objects.unscoped().filter(pk=a_running).update(status=ImportJob.Status.RUNNING)
    _queue_import(tenant_a)  # A waits, at its limit
    b_first = _queue_import(tenant_b)
    run_import(b_first, tenant_id=tenant_b.tenant.pk)
    assert _status(b_first) == "succeeded" and resent == []


@pytest.fixture
def two_trainers(tenant_a, tenant_b):
    for world in (tenant_a, tenant_b):
        dataset = make_interactions_dataset(world.tenant)
        body = {"name": "recs", "slug": "recs", "dataset": dataset.pk, "recipe": "popularity"}
        assert world.client.post("/api/v1/models", body, format="json").status_code == 201
    return tenant_a, tenant_b


def _queue_run(world):
    """Ask for a run; its message is not delivered (the commit callbacks do not run)."""
    response = world.client.post("/api/v1/models/recs/train", {}, format="json")
    assert response.status_code == 202, response.content
    return response.json()["id"]


@pytest.mark.django_db
def test_training_runs_take_fair_turns_between_tenants(two_trainers):
    tenant_a, tenant_b = two_trainers
    _on_plan(tenant_b, max_concurrent_trainings=2)
    b_runs = [_queue_run(tenant_b) for _ in range(3)]
    a_run = _queue_run(tenant_a)

    assert claim_run(tenant_b.tenant.pk, b_runs[0], "w1") == runs.CLAIMED
    # B trains one of its two at once, A waits with none: B's next run waits for A's.
    assert claim_run(tenant_b.tenant.pk, b_runs[1], "w2") == runs.MUST_WAIT
    assert claim_run(tenant_a.tenant.pk, a_run, "w2") == runs.CLAIMED
    assert claim_run(tenant_b.tenant.pk, b_runs[1], "w3") == runs.CLAIMED
    # B now trains its plan's two at once: its third waits whoever else does.
    assert claim_run(tenant_b.tenant.pk, b_runs[2], "w4") == runs.MUST_WAIT
    assert TrainingRun.objects.unscoped().get(pk=b_runs[2]).status == RunStatus.QUEUED


@pytest.mark.django_db(transaction=True)
def test_one_tenants_many_imports_do_not_queue_another_tenants_small_one_behind_them(tenant_a, tenant_b, start_worker):
    _on_plan(tenant_b, max_concurrent_imports=1)
    large = [_queue_import(tenant_b, rows=20_000) for _ in range(3)]
    small = _queue_import(tenant_a, rows=20)
    # Every job is queued before the worker starts, so the queue's order (A's last) decides, not how fast
    # this test posts. Two slots: B's first import takes one; without turns B's second took the other.
    worker = start_worker(queues="imports", concurrency=2, extra_env={"TURN_WAIT_SECONDS": "1"})
    jobs = [*large, small]
    wait_until(
        lambda: all(_status(pk) in ("succeeded", "failed") for pk in jobs),
        180,
        message=f"every import ({worker.log()[-2000:]})",
    )
    finished = {job.pk: job for job in ImportJob.objects.unscoped().filter(pk__in=jobs)}
    assert all(job.status == "succeeded" for job in finished.values()), [job.message for job in finished.values()]
    b_starts = sorted(finished[pk].started_at for pk in large)
    assert finished[small].started_at < b_starts[1], "A's small import waited for B's second large one"
    assert b_starts[0] < b_starts[1] < b_starts[2]
    # B ran one at a time: each of its imports started after the one before had finished.
    b_jobs = sorted((finished[pk] for pk in large), key=lambda job: job.started_at)
    assert all(before.finished_at <= after.started_at for before, after in zip(b_jobs, b_jobs[1:], strict=False))
    # The worker yields the CPU to web processes on the same cores (WORKER_NICENESS, default 10).
    assert os.getpriority(os.PRIO_PROCESS, worker.pid) == 10


@pytest.mark.django_db
def test_a_tenants_backlog_of_imports_is_bounded_before_anything_is_stored(tenant_a, settings):
    settings.PLATFORM = {**settings.PLATFORM, "LIMITS": {**settings.PLATFORM["LIMITS"], "WAITING_IMPORTS": 2}}
    waiting = [_queue_import(tenant_a) for _ in range(2)]
    dataset = Dataset.objects.create(tenant=tenant_a.tenant, name="more", kind="interactions")
    uploads = Path(settings.MEDIA_ROOT, f"tenants/{tenant_a.tenant.pk}/uploads")
    stored = set(uploads.iterdir())
    refused = tenant_a.client.post(
        f"/api/v1/datasets/{dataset.pk}/imports",
        {"file": SimpleUploadedFile("clicks.csv", _clicks(20).encode())},
        format="multipart",
    )
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "quota_exceeded" and error["details"] == {"limit": 2, "used": 2}
    assert error["message"].startswith("2 imports of this organisation are queued or running; at most 2")
    assert set(uploads.iterdir()) == stored and ImportJob.objects.filter(tenant=tenant_a.tenant).count() == 2
    ImportJob.objects.unscoped().filter(pk=waiting[0]).update(status=ImportJob.Status.SUCCEEDED)
    assert _queue_import(tenant_a)


@pytest.mark.django_db(transaction=True)
def test_claiming_a_turn_never_waits_for_another_tenant_on_the_same_plan(tenant_a, tenant_b):
    """lock_tenant locked the plan's row too (select_related): every tenant of a plan waited for each other's."""
    assert tenant_a.tenant.plan_id == tenant_b.tenant.plan_id
    held, release, outcome = threading.Event(), threading.Event(), {}

    def hold_a():
        try:
            with transaction.atomic():
                lock_tenant(tenant_a.tenant.pk)
                held.set()
                release.wait(30)
        finally:
            connection.close()

    def lock_b():
        try:
            with transaction.atomic():
                outcome["plan"] = Plan.objects.select_for_update(nowait=True).get(pk=tenant_b.tenant.plan_id).pk
                outcome["b"] = Tenant.objects.select_for_update(nowait=True).get(pk=tenant_b.tenant.pk).pk
        except Exception as exc:  # noqa: BLE001 - reported below
            outcome["error"] = exc
        finally:
            connection.close()

    holder = threading.Thread(target=hold_a)
    holder.start()
    try:
        assert held.wait(30)
        other = threading.Thread(target=lock_b)
        other.start()
        other.join(30)
    finally:
        release.set()
        holder.join(30)
    assert "error" not in outcome, f"another tenant's lock held up tenant B: {outcome.get('error')}"
    assert outcome == {"plan": tenant_b.tenant.plan_id, "b": tenant_b.tenant.pk}
