"""When the task queue (Redis, as Celery's broker) refuses work: no job is left waiting forever.

The drill in test_faults.py stops a real Redis under gunicorn; these tests make
the broker refuse in-process, to cover the portal and the worker side too.
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from kombu.exceptions import OperationalError

from recommender.data import tasks as data_tasks
from recommender.data.models import ImportJob
from recommender.data.services import create_dataset
from recommender.training import tasks as training_tasks
from recommender.training.models import TrainingRun
from tenants.audit import Actor

from ..serving.conftest import train_model

pytestmark = pytest.mark.django_db(transaction=True)


def _refuse(*args, **kwargs):
    raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def test_an_upload_the_queue_refuses_answers_503_and_its_job_says_why(tenant_a, monkeypatch):
    dataset = create_dataset(actor=Actor.system(tenant_a.tenant), name="d", kind="interactions")
    monkeypatch.setattr(data_tasks.run_import, "delay", _refuse)
    response = tenant_a.client.post(
        f"/api/v1/datasets/{dataset.pk}/imports",
        {"file": SimpleUploadedFile("c.csv", b"user_id,item_id\nu1,i1\n")},
        format="multipart",
    )
    assert response.status_code == 503 and response.json()["error"]["code"] == "queue_unavailable"
    job = ImportJob.objects.unscoped().get(dataset=dataset)
    assert job.status == ImportJob.Status.FAILED and "could not be queued" in job.message


def test_training_from_the_portal_while_the_queue_is_down_shows_a_message_not_a_500(
    tenant_a, django_capture_on_commit_callbacks, monkeypatch
):
    train_model(tenant_a, django_capture_on_commit_callbacks, slug="recs", recipe="popularity")
    monkeypatch.setattr(training_tasks.run_training, "apply_async", _refuse)
    browser = Client()
    browser.force_login(tenant_a.owner)
    response = browser.post("/models/recs/train/", {"tuning_trials": 0}, follow=True)
    assert response.status_code == 200
    assert "task queue is briefly unavailable" in response.content.decode()
    latest = TrainingRun.objects.filter(tenant=tenant_a.tenant).latest("queued_at")
    assert latest.status == "failed" and "could not be queued" in latest.error


def test_an_import_that_merged_stays_succeeded_when_its_statistics_cannot_be_queued(tenant_a, monkeypatch):
    dataset = create_dataset(actor=Actor.system(tenant_a.tenant), name="d", kind="interactions")
    monkeypatch.setattr(data_tasks.refresh_stats, "delay", _refuse)
    response = tenant_a.client.post(
        f"/api/v1/datasets/{dataset.pk}/imports",
        {"file": SimpleUploadedFile("c.csv", b"user_id,item_id\nu1,i1\nu2,i2\n")},
        format="multipart",
    )
    assert response.status_code == 202  # the import itself ran eagerly (tests), its stats could not be queued
    job = ImportJob.objects.unscoped().get(dataset=dataset)
    assert job.status == ImportJob.Status.SUCCEEDED and job.rows_loaded == 2
