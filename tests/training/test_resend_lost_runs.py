"""A queued run whose task message was lost (Redis keeps none across a restart) is sent again.

Tasks run eagerly here, when the request's transaction "commits": a request made
without ``django_capture_on_commit_callbacks(execute=True)`` never sends its
message, exactly like a message lost with the broker's memory. Sending it again
with the callbacks executed runs the real task, as a worker would.
"""

from datetime import timedelta

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError

from recommender.training import tasks
from recommender.training.models import ModelVersion, RunStatus, TrainingRun
from recommender.training.services import runs
from recommender.training.services.runs import claim_run, resend_lost_runs
from tenants.models import Plan

from ..factories import make_interactions_dataset

LONG_AGO = timedelta(minutes=11)  # beyond QUEUED_RESEND_AFTER_SECONDS' default of 10 minutes


@pytest.fixture
def config_slug(tenant_a):
    dataset = make_interactions_dataset(tenant_a.tenant)
    body = {"name": "recs", "slug": "recs", "dataset": dataset.pk, "recipe": "popularity"}
    assert tenant_a.client.post("/api/v1/models", body, format="json").status_code == 201
    return "recs"


def _request_with_lost_message(world, slug):
    """Ask for a run; its message is never delivered (the commit callbacks do not run)."""
    response = world.client.post(f"/api/v1/models/{slug}/train", {}, format="json")
    assert response.status_code == 202
    return response.json()["id"]


def _sent_long_ago(run_id):
    TrainingRun.objects.unscoped().filter(pk=run_id).update(sent_at=timezone.now() - LONG_AGO)


def _run(world, run_id):
    return world.client.get(f"/api/v1/runs/{run_id}").json()


@pytest.mark.django_db
def test_a_run_whose_message_was_lost_is_sent_again_and_trains(
    tenant_a, config_slug, django_capture_on_commit_callbacks, caplog
):
    run_id = _request_with_lost_message(tenant_a, config_slug)
    assert _run(tenant_a, run_id)["status"] == "queued"
    _sent_long_ago(run_id)

    with django_capture_on_commit_callbacks(execute=True):
        assert resend_lost_runs() == [run_id]

    run = _run(tenant_a, run_id)
    assert run["status"] == "succeeded" and run["attempts"] == 1, run["error"]
    assert ModelVersion.objects.unscoped().filter(run_id=run_id).count() == 1
    assert f"Training run {run_id} is still queued" in caplog.text


@pytest.mark.django_db
def test_a_run_queued_a_short_while_ago_is_left_alone(tenant_a, config_slug, django_capture_on_commit_callbacks):
    run_id = _request_with_lost_message(tenant_a, config_slug)
    with django_capture_on_commit_callbacks(execute=True) as sent:
        assert resend_lost_runs() == []
    assert sent == []
    assert _run(tenant_a, run_id)["status"] == "queued"


@pytest.mark.django_db
def test_a_run_is_sent_again_at_most_once_per_interval(tenant_a, config_slug, django_capture_on_commit_callbacks):
    run_id = _request_with_lost_message(tenant_a, config_slug)
    _sent_long_ago(run_id)
    assert resend_lost_runs() == [run_id]  # and this message is lost too
    with django_capture_on_commit_callbacks(execute=True) as sent:
        assert resend_lost_runs() == []
    assert sent == [] and _run(tenant_a, run_id)["status"] == "queued"

    _sent_long_ago(run_id)  # the interval passed: it is sent once more
    with django_capture_on_commit_callbacks(execute=True):
        assert resend_lost_runs() == [run_id]
    assert _run(tenant_a, run_id)["status"] == "succeeded"


@pytest.mark.django_db
def test_a_run_requeued_by_the_reaper_is_not_sent_twice(tenant_a, config_slug):
    """The reaper re-queues a run long after it was first queued; that fresh message is not doubled."""
    run_id = _request_with_lost_message(tenant_a, config_slug)
    long_ago = timezone.now() - timedelta(hours=1)
    TrainingRun.objects.unscoped().filter(pk=run_id).update(
        status=RunStatus.RUNNING, queued_at=long_ago, sent_at=long_ago, heartbeat_at=long_ago, attempts=1
    )
    assert runs.reap_stale_runs() == ([run_id], [])
    assert resend_lost_runs() == []


@pytest.mark.django_db
def test_running_and_finished_runs_are_not_sent_again_and_a_duplicate_message_does_nothing(
    tenant_a, config_slug, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        finished = _request_with_lost_message(tenant_a, config_slug)  # delivered after all
    running = _request_with_lost_message(tenant_a, config_slug)
    TrainingRun.objects.unscoped().filter(pk=running).update(status=RunStatus.RUNNING, worker="busy@w1", attempts=1)
    TrainingRun.objects.unscoped().filter(pk__in=[finished, running]).update(sent_at=timezone.now() - LONG_AGO)
    assert resend_lost_runs() == []

    # The original messages arrive late, as they would behind a busy worker: nothing trains again.
    for run_id in (finished, running):
        assert tasks.run_training.apply_async(args=[tenant_a.tenant.pk, run_id]).get() == runs.ALREADY_HANDLED
    assert _run(tenant_a, finished)["status"] == "succeeded" and _run(tenant_a, finished)["attempts"] == 1
    assert _run(tenant_a, running)["status"] == "running" and _run(tenant_a, running)["worker"] == "busy@w1"
    assert ModelVersion.objects.unscoped().filter(config__slug=config_slug).count() == 1


@pytest.mark.django_db
def test_a_run_sent_again_whose_first_message_was_not_lost_trains_once(
    tenant_a, config_slug, django_capture_on_commit_callbacks
):
    run_id = _request_with_lost_message(tenant_a, config_slug)
    _sent_long_ago(run_id)
    with django_capture_on_commit_callbacks(execute=True):
        assert resend_lost_runs() == [run_id]
    # The first message was only waiting in a long queue; it reaches a worker now.
    assert tasks.run_training.apply_async(args=[tenant_a.tenant.pk, run_id]).get() == runs.ALREADY_HANDLED
    assert _run(tenant_a, run_id)["attempts"] == 1
    assert ModelVersion.objects.unscoped().filter(run_id=run_id).count() == 1


@pytest.mark.django_db
def test_a_run_waiting_for_a_training_slot_is_not_sent_again(tenant_a, config_slug):
    """Its task keeps sending itself while the tenant trains its maximum: that message is alive."""
    tenant_a.tenant.plan = Plan.objects.create(name="one-at-a-time", max_concurrent_trainings=1)
    tenant_a.tenant.save()
    busy = _request_with_lost_message(tenant_a, config_slug)
    TrainingRun.objects.unscoped().filter(pk=busy).update(status=RunStatus.RUNNING)
    waiting = _request_with_lost_message(tenant_a, config_slug)
    _sent_long_ago(waiting)
    assert claim_run(tenant_a.tenant.pk, waiting, "w1") == runs.MUST_WAIT
    assert resend_lost_runs() == []


@pytest.mark.django_db(transaction=True)
def test_when_the_queue_refuses_the_resend_that_run_fails_with_a_reason_and_the_rest_wait(
    tenant_a, config_slug, monkeypatch
):
    monkeypatch.setattr(tasks.run_training, "apply_async", lambda *a, **k: None)  # both messages get lost
    first = _request_with_lost_message(tenant_a, config_slug)
    second = _request_with_lost_message(tenant_a, config_slug)
    TrainingRun.objects.unscoped().filter(pk__in=[first, second]).update(sent_at=timezone.now() - LONG_AGO)

    def refuse(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.run_training, "apply_async", refuse)
    assert resend_lost_runs() == []
    statuses = sorted(TrainingRun.objects.unscoped().filter(pk__in=[first, second]).values_list("status", "error"))
    assert statuses[0][0] == "failed" and "could not be queued" in statuses[0][1]
    assert statuses[1] == ("queued", "")
