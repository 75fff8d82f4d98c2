"""Operators see configs, runs, versions, deployments and batch jobs, and can retry or cancel runs."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from recommender.serving.models import BatchJob
from recommender.training.models import Deployment, ModelConfig, ModelVersion, TrainingRun

from ..serving.conftest import train_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client):
    client.force_login(get_user_model().objects.create_superuser("op", "op@example.com", "operator-password-1"))
    return client


def test_admin_pages_load(operator, tenant_a, django_capture_on_commit_callbacks):
    train_model(tenant_a, django_capture_on_commit_callbacks, recipe="popularity")
    with django_capture_on_commit_callbacks(execute=True):
        tenant_a.client.post("/api/v1/models/recs/batch-recommendations", {}, format="json")
    for model in (ModelConfig, TrainingRun, ModelVersion, Deployment, BatchJob):
        opts = model._meta
        assert operator.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")).status_code == 200
        obj = model.objects.for_tenant(tenant_a.tenant).first()
        assert (
            operator.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])).status_code == 200
        )


def test_admin_retry_queues_a_new_run_and_cancel_stops_a_queued_one(
    operator, tenant_a, django_capture_on_commit_callbacks
):
    train_model(tenant_a, django_capture_on_commit_callbacks, recipe="popularity")
    finished = TrainingRun.objects.unscoped().get()
    changelist = reverse("admin:training_trainingrun_changelist")
    operator.post(changelist, {"action": "retry", "_selected_action": [finished.pk]})
    retry = TrainingRun.objects.unscoped().exclude(pk=finished.pk).get()
    assert retry.trigger == "retry" and retry.status == "queued"  # on_commit not run: still queued

    operator.post(changelist, {"action": "cancel", "_selected_action": [retry.pk]})
    retry.refresh_from_db()
    assert retry.status == "cancelled"
    page = operator.post(changelist, {"action": "cancel", "_selected_action": [retry.pk]}, follow=True)
    assert "already cancelled" in page.content.decode()
