"""A queued import whose task message was lost (Redis keeps none across a restart) is sent again.

Tasks run eagerly here, when the transaction "commits": an upload made without
``django_capture_on_commit_callbacks(execute=True)`` never sends its message,
exactly like a message lost with the broker's memory. Sending it again with the
callbacks executed runs the real task, as a worker would.
"""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections
from django.utils import timezone
from kombu.exceptions import OperationalError

from recommender.data import tasks
from recommender.data.importing.runner import IMPORT_LOCK_PREFIX
from recommender.data.models import ImportJob, Interaction
from recommender.data.services import resend_lost_imports
from tenants.models import AuditLog

LONG_AGO = timedelta(minutes=11)  # beyond QUEUED_RESEND_AFTER_SECONDS' default of 10 minutes


def _upload_with_lost_message(world, dataset):
    """Upload a two-row file; its import's message is never delivered (the commit callbacks do not run)."""
    response = world.client.post(
        f"/api/v1/datasets/{dataset.pk}/imports",
        {"file": SimpleUploadedFile("c.csv", b"user_id,item_id\nu1,i1\nu2,i2\n")},
        format="multipart",
    )
    assert response.status_code == 202
    return response.json()["id"]


def _sent_long_ago(*job_ids):
    ImportJob.objects.unscoped().filter(pk__in=job_ids).update(sent_at=timezone.now() - LONG_AGO)


def _job(world, job_id):
    return world.client.get(f"/api/v1/imports/{job_id}").json()


@pytest.mark.django_db
def test_an_import_whose_message_was_lost_is_sent_again_and_runs(
    tenant_a, make_dataset, django_capture_on_commit_callbacks, caplog
):
    dataset = make_dataset(tenant_a)
    job_id = _upload_with_lost_message(tenant_a, dataset)
    assert _job(tenant_a, job_id)["status"] == "queued"
    _sent_long_ago(job_id)

    with django_capture_on_commit_callbacks(execute=True):
        assert resend_lost_imports() == [job_id]

    job = _job(tenant_a, job_id)
    assert job["status"] == "succeeded" and job["rows_loaded"] == 2, job["message"]
    assert Interaction.objects.unscoped().filter(dataset=dataset).count() == 2
    assert AuditLog.objects.filter(tenant=tenant_a.tenant, action="import.resent", object_id=str(job_id)).exists()
    assert f"Import job {job_id} is still queued" in caplog.text


@pytest.mark.django_db
def test_an_import_queued_a_short_while_ago_is_left_alone(tenant_a, make_dataset, django_capture_on_commit_callbacks):
    job_id = _upload_with_lost_message(tenant_a, make_dataset(tenant_a))
    with django_capture_on_commit_callbacks(execute=True) as sent:
        assert resend_lost_imports() == []
    assert sent == [] and _job(tenant_a, job_id)["status"] == "queued"


@pytest.mark.django_db
def test_an_import_is_sent_again_at_most_once_per_interval(tenant_a, make_dataset, django_capture_on_commit_callbacks):
    dataset = make_dataset(tenant_a)
    job_id = _upload_with_lost_message(tenant_a, dataset)
    _sent_long_ago(job_id)
    assert resend_lost_imports() == [job_id]  # and this message is lost too
    with django_capture_on_commit_callbacks(execute=True) as sent:
        assert resend_lost_imports() == []
    assert sent == [] and _job(tenant_a, job_id)["status"] == "queued"

    _sent_long_ago(job_id)  # the interval passed: it is sent once more
    with django_capture_on_commit_callbacks(execute=True):
        assert resend_lost_imports() == [job_id]
    assert _job(tenant_a, job_id)["status"] == "succeeded"
    assert AuditLog.objects.unscoped().filter(action="import.resent", object_id=str(job_id)).count() == 2


@pytest.mark.django_db
def test_an_import_sent_again_whose_first_message_was_not_lost_imports_once(
    tenant_a, make_dataset, django_capture_on_commit_callbacks
):
    dataset = make_dataset(tenant_a)
    job_id = _upload_with_lost_message(tenant_a, dataset)
    _sent_long_ago(job_id)
    with django_capture_on_commit_callbacks(execute=True):
        assert resend_lost_imports() == [job_id]
    # The first message was only waiting in a long queue; it reaches a worker now.
    tasks.run_import.delay(tenant_a.tenant.pk, job_id)
    assert _job(tenant_a, job_id)["rows_loaded"] == 2
    assert Interaction.objects.unscoped().filter(dataset=dataset).count() == 2
    assert AuditLog.objects.unscoped().filter(action="import.succeeded", object_id=str(job_id)).count() == 1


@pytest.mark.django_db
def test_a_running_import_is_not_sent_again_and_a_duplicate_message_leaves_it_to_its_worker(
    tenant_a, make_dataset, django_capture_on_commit_callbacks
):
    dataset = make_dataset(tenant_a)
    job_id = _upload_with_lost_message(tenant_a, dataset)
    # Another worker is on it: it holds the job's lock, in a database session of its own.
    worker_session = connections.create_connection("default")
    try:
        with worker_session.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [IMPORT_LOCK_PREFIX + job_id])
        ImportJob.objects.unscoped().filter(pk=job_id).update(status=ImportJob.Status.RUNNING)
        _sent_long_ago(job_id)
        assert resend_lost_imports() == []

        tasks.run_import.delay(tenant_a.tenant.pk, job_id)  # a duplicate of its message
        assert _job(tenant_a, job_id)["status"] == "running"
        assert not Interaction.objects.unscoped().filter(dataset=dataset).exists()
    finally:
        worker_session.close()


@pytest.mark.django_db(transaction=True)
def test_when_the_queue_refuses_the_resend_that_import_fails_with_a_reason_and_the_rest_wait(
    tenant_a, make_dataset, monkeypatch
):
    dataset = make_dataset(tenant_a)
    monkeypatch.setattr(tasks.run_import, "delay", lambda *args: None)  # both messages get lost
    first = _upload_with_lost_message(tenant_a, dataset)
    second = _upload_with_lost_message(tenant_a, dataset)
    _sent_long_ago(first, second)

    def refuse(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.run_import, "delay", refuse)
    assert resend_lost_imports() == []
    outcomes = sorted(ImportJob.objects.unscoped().filter(pk__in=[first, second]).values_list("status", "message"))
    assert outcomes[0][0] == "failed" and "could not be queued" in outcomes[0][1]
    assert outcomes[1] == ("queued", "")
