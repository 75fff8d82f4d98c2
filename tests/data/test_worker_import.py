"""An import through a real Celery worker on the imports queue, followed through the API."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from recommender.data.models import Interaction

from ..worker import wait_until

pytestmark = pytest.mark.worker


def test_import_runs_on_the_worker_and_reports_progress(tenant_a, make_dataset, celery_worker):
    dataset = make_dataset(tenant_a)
    rows = 20_000
    content = "user_id,item_id,timestamp\n" + "".join(
        f"u{n % 500},i{n % 300},{1_700_000_000 + n}\n" for n in range(rows)
    )
    response = tenant_a.client.post(
        f"/api/v1/datasets/{dataset.pk}/imports",
        {"file": SimpleUploadedFile("clicks.csv", content.encode())},
        format="multipart",
    )
    assert response.status_code == 202 and response.json()["status"] == "queued"
    url = f"/api/v1/imports/{response.json()['id']}"
    seen = []

    def finished():
        job = tenant_a.client.get(url).json()
        seen.append((job["status"], job["rows_read"], job["rows_total"]))
        return job if job["status"] in ("succeeded", "failed") else None

    job = wait_until(finished, timeout=60, message="the import to finish on the worker")
    assert job["status"] == "succeeded", (job, celery_worker.log())
    assert job["rows_loaded"] == rows and job["rows_total"] == rows and job["progress"] == 1.0
    assert Interaction.objects.unscoped().filter(dataset=dataset).count() == rows
    assert "recommender.data.tasks.run_import" in celery_worker.log()
