"""Stored files go when they should: uploads, batch files, an organisation's folder, what erasure reaches.

The attack: a failed import's upload was never deleted; after erasing an end user and deleting the
organisation, the upload still held that user's id; batch files stayed forever; no storage quota.
"""

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone

from core.errors import Conflict
from recommender.data.models import ImportJob
from recommender.data.retention import sweep_kept_uploads
from recommender.data.services import rerun_import
from recommender.serving.batch import expire_batch_files
from recommender.serving.models import BatchJob
from recommender.training.models import TrainingRun
from tenants.accounts.services import delete_tenant
from tenants.audit import Actor
from tenants.selectors import forget_cached_key

from ..serving.conftest import train_model

pytestmark = pytest.mark.django_db

BAD = "user_id,item_id,timestamp\nu7,i1,not-a-time\n"


@pytest.fixture
def served(tenant_a, django_capture_on_commit_callbacks):
    train_model(tenant_a, django_capture_on_commit_callbacks, recipe="popularity")
    return tenant_a


@pytest.fixture
def retention(settings):
    def set_retention(**values):
        settings.PLATFORM = {**settings.PLATFORM, "RETENTION": {**settings.PLATFORM["RETENTION"], **values}}

    return set_retention


def _failed_upload(world, make_dataset, upload):
    _, job = upload(world, make_dataset(world), BAD)
    assert job["status"] == "failed"
    return job


def _stored_upload_of(job_id):
    return ImportJob.objects.unscoped().get(pk=job_id).file_path


def test_a_failed_imports_upload_is_kept_for_a_rerun_then_swept(tenant_a, make_dataset, upload):
    job = _failed_upload(tenant_a, make_dataset, upload)
    path = _stored_upload_of(job["id"])
    assert default_storage.exists(path), "kept for a rerun"

    assert sweep_kept_uploads() == 0, "not yet"
    later = timezone.now() + timedelta(hours=settings.PLATFORM["RETENTION"]["KEPT_UPLOAD_HOURS"] + 1)
    assert sweep_kept_uploads(now=later) == 1
    assert not default_storage.exists(path)
    failed_job = ImportJob.objects.for_tenant(tenant_a.tenant).get(pk=job["id"])
    with pytest.raises(Conflict, match="upload it again"):
        rerun_import(actor=Actor(tenant=tenant_a.tenant), job=failed_job)


def test_with_no_keeping_a_failed_imports_upload_goes_at_once(tenant_a, make_dataset, upload, retention):
    retention(KEPT_UPLOAD_HOURS=0)
    job = _failed_upload(tenant_a, make_dataset, upload)
    assert _stored_upload_of(job["id"]) == ""
    assert not any(Path(settings.MEDIA_ROOT, f"tenants/{tenant_a.tenant.pk}/uploads").glob("*"))


def test_kept_uploads_count_against_the_plans_storage_quota(tenant_a, make_dataset, upload):
    _failed_upload(tenant_a, make_dataset, upload)
    plan = tenant_a.tenant.plan
    plan.max_storage_bytes = len(BAD) + 10
    plan.save()
    forget_cached_key()
    response, _ = upload(tenant_a, make_dataset(tenant_a, name="more"), BAD)
    assert response.status_code == 413
    assert f"{len(BAD)} bytes of uploads are stored" in response.json()["error"]["message"]


def _batch_file(world, django_capture_on_commit_callbacks, user_ids):
    with django_capture_on_commit_callbacks(execute=True):
        job = world.client.post(
            "/api/v1/models/recs/batch-recommendations", {"user_ids": user_ids}, format="json"
        ).json()
    return BatchJob.objects.unscoped().get(pk=job["id"])


def test_batch_files_expire(served, django_capture_on_commit_callbacks):
    job = _batch_file(served, django_capture_on_commit_callbacks, ["u1"])
    assert default_storage.exists(job.file_path)
    later = timezone.now() + timedelta(hours=settings.PLATFORM["RETENTION"]["BATCH_FILE_HOURS"] + 1)
    assert expire_batch_files(now=later) == 1
    assert not default_storage.exists(job.file_path)
    answer = served.client.get(f"/api/v1/batch-jobs/{job.pk}/download")
    assert answer.status_code == 404 and "expired" in answer.json()["error"]["message"]


def test_erasure_reaches_kept_uploads_and_the_batch_files_that_name_the_user(
    served, make_dataset, upload, django_capture_on_commit_callbacks
):
    kept = _stored_upload_of(_failed_upload(served, make_dataset, upload)["id"])
    naming = _batch_file(served, django_capture_on_commit_callbacks, ["u7", "u8"])
    other = _batch_file(served, django_capture_on_commit_callbacks, ["u17"])

    with django_capture_on_commit_callbacks(execute=True):  # batch files go when the erasure commits
        counts = served.client.delete("/api/v1/users/u7").json()
    assert (counts["uploads_deleted"], counts["batch_files_deleted"]) == (1, 1), counts
    assert not default_storage.exists(kept) and not default_storage.exists(naming.file_path)
    assert default_storage.exists(other.file_path), "a file that does not name the user stays"


def test_an_erasure_that_rolls_back_keeps_the_batch_files_and_a_missing_file_is_no_error(
    served, django_capture_on_commit_callbacks
):
    from django.db import transaction

    from recommender.serving.batch import delete_batch_files_naming

    naming = _batch_file(served, django_capture_on_commit_callbacks, ["u7"])
    with pytest.raises(RuntimeError), transaction.atomic():
        assert delete_batch_files_naming(served.tenant, ["u7"]) == 1
        raise RuntimeError("a later step of the erasure failed")
    assert default_storage.exists(naming.file_path), "the rolled-back erasure left the file its row names"

    default_storage.delete(naming.file_path)  # gone by other means (expiry, an operator)
    assert served.client.delete("/api/v1/users/u7").status_code == 200


def test_deleting_an_organisation_removes_its_storage_folder(
    served, make_dataset, upload, django_capture_on_commit_callbacks
):
    _failed_upload(served, make_dataset, upload)
    _batch_file(served, django_capture_on_commit_callbacks, ["u1"])
    folder = Path(settings.MEDIA_ROOT, f"tenants/{served.tenant.pk}")
    assert any(path.is_file() for path in folder.rglob("*"))

    with django_capture_on_commit_callbacks(execute=True):
        delete_tenant(actor=Actor(tenant=served.tenant, user=served.owner), confirmation=served.tenant.slug)
    assert not any(path.is_file() for path in folder.rglob("*")), list(folder.rglob("*"))


def test_the_storage_quota_counts_uploads_batch_files_and_models_and_refuses_work_before_it_starts(
    served, make_dataset, upload, django_capture_on_commit_callbacks
):
    model = served.client.get("/api/v1/models/recs/versions").json()["results"][0]
    plan = served.tenant.plan
    plan.max_storage_bytes = 10**9
    plan.save()
    forget_cached_key()
    batch = _batch_file(served, django_capture_on_commit_callbacks, ["u1", "u2"])
    assert batch.file_bytes == default_storage.size(batch.file_path) > 0
    _failed_upload(served, make_dataset, upload)  # kept for a rerun
    used = len(BAD) + batch.file_bytes + model["artifact_bytes"]
    quotas = served.client.get("/api/v1/usage").json()["quotas"]
    assert quotas["storage_bytes"] == {"used": used, "limit": 10**9}

    plan.max_storage_bytes = used  # full
    plan.save()
    forget_cached_key()
    stored = (
        f"The organisation stores {used} bytes ({batch.file_bytes} bytes of batch files are stored; "
        f"{model['artifact_bytes']} bytes of trained models are stored; {len(BAD)} bytes of uploads are stored); "
        f"the standard plan stores up to {used} bytes."
    )
    jobs_before = _jobs(served)
    training = served.client.post("/api/v1/models/recs/train", {}, format="json")
    assert training.status_code == 429 and training.json()["error"]["code"] == "quota_exceeded"
    assert training.json()["error"]["message"].startswith(f"No training run was queued. {stored}")
    another = served.client.post("/api/v1/models/recs/batch-recommendations", {"user_ids": ["u1"]}, format="json")
    assert another.status_code == 429 and another.json()["error"]["message"].startswith(
        f"No batch job was queued. {stored}"
    )
    response, _ = upload(served, make_dataset(served, name="more"), BAD)
    assert response.status_code == 413 and response.json()["error"]["details"]["used"] == used
    assert _jobs(served) == jobs_before, "nothing was queued"

    # An expired batch file no longer counts: there is room again.
    expire_batch_files(now=timezone.now() + timedelta(hours=settings.PLATFORM["RETENTION"]["BATCH_FILE_HOURS"] + 1))
    with django_capture_on_commit_callbacks(execute=True):
        assert served.client.post("/api/v1/models/recs/train", {}, format="json").status_code == 202


def _jobs(world):
    """How many training runs and batch jobs the tenant has."""
    return TrainingRun.objects.filter(tenant=world.tenant).count(), BatchJob.objects.filter(tenant=world.tenant).count()
