"""Datasets: creating, uploading with import progress, the error report and statistics."""

import json

import pytest
from django.urls import reverse

from recommender.data.models import Dataset, ImportJob

from .conftest import CLICKS_CSV, signed_in, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_client(tenant_a):
    return signed_in(tenant_a.owner, tenant_a.tenant)


def test_create_a_dataset_then_upload_into_it(tenant_a, owner_client, django_capture_on_commit_callbacks):
    response = owner_client.post(reverse("portal:dataset_create"), {"name": "Clicks", "kind": "interactions"})
    dataset = Dataset.objects.get(tenant=tenant_a.tenant, name="Clicks")
    assert response["Location"] == reverse("portal:dataset_upload", args=[dataset.pk])

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            reverse("portal:dataset_upload", args=[dataset.pk]),
            {"file": upload("clicks.csv", CLICKS_CSV), "on_error": "fail"},
        )
    job = ImportJob.objects.unscoped().get(dataset=dataset)
    assert response["Location"] == reverse("portal:dataset_import", args=[job.pk])
    page = owner_client.get(response["Location"]).content.decode()
    assert "Imported 120 of 120 rows." in page
    assert "data-poll" not in page

    status = owner_client.get(reverse("portal:dataset_import_status", args=[job.pk])).json()
    assert status["status"] == "succeeded"
    assert status["finished"] is True
    assert status["progress"] == 1.0


def test_a_running_import_page_polls_its_status(tenant_a, owner_client):
    dataset = Dataset.objects.create(tenant=tenant_a.tenant, name="d", kind="interactions")
    job = ImportJob.objects.create(
        tenant=tenant_a.tenant, dataset=dataset, file_name="big.csv", status="running", rows_read=50, rows_total=200
    )
    page = owner_client.get(reverse("portal:dataset_import", args=[job.pk])).content.decode()
    assert f'data-poll="{reverse("portal:dataset_import_status", args=[job.pk])}"' in page
    assert 'value="0.250000"' in page
    status = owner_client.get(reverse("portal:dataset_import_status", args=[job.pk])).json()
    assert (status["finished"], status["progress"], status["rows_read"]) == (False, 0.25, 50)


def test_bad_rows_are_reported_with_line_column_and_reason(tenant_a, owner_client, django_capture_on_commit_callbacks):
    dataset = Dataset.objects.create(tenant=tenant_a.tenant, name="d", kind="interactions")
    content = b"user_id,item_id,timestamp\nu1,i1,2026-01-01T00:00:00Z\nu2,i2,not-a-date\n"
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            reverse("portal:dataset_upload", args=[dataset.pk]),
            {"file": upload("bad.csv", content), "on_error": "fail"},
        )
    page = owner_client.get(response["Location"]).content.decode()
    assert "nothing was imported" in page
    assert '<td class="num">3</td><td><code>timestamp</code></td>' in page
    assert "Run this import again" in page


def test_upload_options_are_judged_like_the_api(tenant_a, owner_client):
    dataset = Dataset.objects.create(tenant=tenant_a.tenant, name="d", kind="interactions")
    response = owner_client.post(
        reverse("portal:dataset_upload", args=[dataset.pk]),
        {"file": upload("x.csv", CLICKS_CSV), "on_error": "fail", "delimiter": "ab", "column_mapping": "{oops"},
    )
    assert set(response.context["form"].errors) == {"delimiter", "column_mapping"}
    assert not ImportJob.objects.unscoped().exists()


def test_upload_options_chosen_in_the_form_are_how_the_file_is_read(
    tenant_a, owner_client, django_capture_on_commit_callbacks
):
    dataset = Dataset.objects.create(tenant=tenant_a.tenant, name="d", kind="interactions")
    # No header line and semicolons: the file reads only with the options chosen (columns are numbered from 1).
    content = b"u1;i1;2026-01-01T00:00:00Z\nu2;i2;2026-01-02T00:00:00Z\n"
    mapping = {"1": "user_id", "2": "item_id", "3": "timestamp"}
    form = {"on_error": "fail", "format": "csv", "delimiter": "semicolon", "has_header": "no"}
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            reverse("portal:dataset_upload", args=[dataset.pk]),
            {**form, "file": upload("x.txt", content), "column_mapping": json.dumps(mapping)},
        )
    job = ImportJob.objects.get(dataset=dataset)
    assert response["Location"] == reverse("portal:dataset_import", args=[job.pk])
    assert job.options == {
        "format": "csv",
        "delimiter": ";",
        "has_header": False,
        "column_mapping": mapping,
        "on_error": "fail",
        "compression": "auto",
    }
    job.refresh_from_db()
    assert (job.status, job.rows_loaded) == ("succeeded", 2), job.message


def test_a_tabular_dataset_needs_its_target_column(owner_client):
    response = owner_client.post(reverse("portal:dataset_create"), {"name": "churn", "kind": "tabular"})
    assert "target_column" in response.context["form"].errors


def test_statistics_charts_and_recent_events(tenant_a, clicks_a, owner_client):
    dataset, _ = clicks_a
    sent = tenant_a.client.post(
        "/api/v1/events", {"dataset": dataset.pk, "events": [{"user_id": "fresh-user", "item_id": "i1"}]}, format="json"
    )
    assert sent.json()["accepted"] == 1
    page = owner_client.get(reverse("portal:dataset", args=[dataset.pk])).content.decode()
    for chart in (
        "Interactions per day, the 90 days up to the latest",
        "Interactions per item, most popular first (the long tail)",
        "Users by number of interactions",
    ):
        assert f'aria-label="{chart}"' in page
    recent = page[page.index("Events received recently") :]
    assert recent.index("<code>fresh-user</code>") < recent.index("<code>u")


def test_viewers_see_data_without_the_buttons_that_change_it(tenant_a, clicks_a, client_as):
    dataset, _ = clicks_a
    page = client_as("viewer").get(reverse("portal:dataset", args=[dataset.pk])).content.decode()
    assert "Upload a file" not in page
    assert "Recompute statistics" not in page
