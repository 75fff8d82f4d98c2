"""Tabular predictions, and batch recommendation files."""

import csv
import io
import json
import random

import pytest

from recommender.data.models import Dataset, TabularRow

from .conftest import train_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def churn_model(tenant_a, django_capture_on_commit_callbacks):
    """A classifier of a known rule: customers on 'basic' with short tenure churn."""
    rng = random.Random(1)
    dataset = Dataset.objects.create(tenant=tenant_a.tenant, name="churn", kind="tabular", target_column="churned")
    rows = []
    for _ in range(300):
        tenure, plan = rng.randint(1, 36), rng.choice(["basic", "pro"])
        rows.append({"tenure": tenure, "plan": plan, "spend": round(rng.uniform(10, 90), 2),
                     "churned": "yes" if tenure < 8 and plan == "basic" else "no"})  # fmt: skip
    TabularRow.objects.bulk_create([TabularRow(tenant=tenant_a.tenant, dataset=dataset, data=row) for row in rows])
    train_model(tenant_a, django_capture_on_commit_callbacks, slug="churn", recipe="mlp_classifier", dataset=dataset,
                params={"epochs": 40})  # fmt: skip
    return tenant_a


def test_predict_returns_class_probabilities_in_row_order(churn_model):
    rows = [{"tenure": 2, "plan": "basic", "spend": 30.0}, {"tenure": 30, "plan": "pro", "spend": 60.0}]
    body = churn_model.client.post("/api/v1/models/churn/predict", {"rows": rows}, format="json").json()
    assert body["model"] == "churn" and body["version"] == 1
    first, second = body["predictions"]
    assert first["label"] == "yes" and second["label"] == "no"
    assert abs(sum(first["probabilities"].values()) - 1) < 1e-4


def test_predict_names_the_row_and_column_of_a_bad_value(churn_model):
    rows = [{"tenure": 2, "plan": "basic", "spend": 30.0}, {"tenure": "soon", "plan": "basic", "spend": 1.0}]
    response = churn_model.client.post("/api/v1/models/churn/predict", {"rows": rows}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_row"
    assert error["details"] == {"row": 1, "column": "tenure"}


def test_predict_refuses_more_than_1000_rows(churn_model):
    rows = [{"tenure": 2, "plan": "basic", "spend": 1.0}] * 1001
    assert churn_model.client.post("/api/v1/models/churn/predict", {"rows": rows}, format="json").status_code == 400


def test_recommendation_model_refuses_predict(tenant_a, django_capture_on_commit_callbacks):
    train_model(tenant_a, django_capture_on_commit_callbacks, recipe="popularity")
    response = tenant_a.client.post("/api/v1/models/recs/predict", {"rows": [{"a": 1}]}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "unsupported"


def test_batch_recommendations_file_for_all_users_and_a_list(tenant_a, django_capture_on_commit_callbacks):
    train_model(tenant_a, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        job = tenant_a.client.post("/api/v1/models/recs/batch-recommendations", {"k": 3}, format="json").json()
    status = tenant_a.client.get(f"/api/v1/batch-jobs/{job['id']}").json()
    assert status["status"] == "succeeded" and status["progress"] == 1.0
    download = tenant_a.client.get(status["download_url"])
    assert download["Content-Disposition"].startswith("attachment")
    rows = list(csv.DictReader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert len({row["user_id"] for row in rows}) == 40 and len(rows) == 40 * 3
    assert {row["rank"] for row in rows} == {"1", "2", "3"}

    with django_capture_on_commit_callbacks(execute=True):
        listed = tenant_a.client.post(
            "/api/v1/models/recs/batch-recommendations",
            {"user_ids": ["u1", "=cmd|stranger"], "format": "jsonl", "k": 2},
            format="json",
        ).json()
    lines = b"".join(tenant_a.client.get(f"/api/v1/batch-jobs/{listed['id']}/download").streaming_content)
    records = [json.loads(line) for line in lines.decode().splitlines()]
    assert [record["user_id"] for record in records] == ["u1", "=cmd|stranger"]
    assert records[1]["fallback"] == "unknown_user"


def test_csv_batch_escapes_formula_cells(tenant_a, django_capture_on_commit_callbacks):
    train_model(tenant_a, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        job = tenant_a.client.post(
            "/api/v1/models/recs/batch-recommendations", {"user_ids": ["=HYPERLINK(1)"], "k": 1}, format="json"
        ).json()
    text = b"".join(tenant_a.client.get(f"/api/v1/batch-jobs/{job['id']}/download").streaming_content).decode()
    assert "'=HYPERLINK(1)" in text


def test_batch_jobs_of_another_tenant_are_404(tenant_a, tenant_b, django_capture_on_commit_callbacks):
    train_model(tenant_a, django_capture_on_commit_callbacks, recipe="popularity")
    with django_capture_on_commit_callbacks(execute=True):
        job = tenant_a.client.post("/api/v1/models/recs/batch-recommendations", {}, format="json").json()
    assert tenant_b.client.get(f"/api/v1/batch-jobs/{job['id']}").status_code == 404
    assert tenant_b.client.get(f"/api/v1/batch-jobs/{job['id']}/download").status_code == 404


def _batch_file(world, capture, body):
    with capture(execute=True):
        job = world.client.post("/api/v1/models/recs/batch-recommendations", body, format="json").json()
    status = world.client.get(f"/api/v1/batch-jobs/{job['id']}").json()
    assert status["status"] == "succeeded", status
    return status, b"".join(world.client.get(status["download_url"]).streaming_content).decode()


@pytest.mark.parametrize("file_format", ["csv", "jsonl"])
def test_a_batch_written_in_many_slices_is_the_file_written_in_one(
    tenant_a, django_capture_on_commit_callbacks, settings, file_format
):
    """Every user's slice of users is read, scored and stored on its own (7 at a time here, so 40 users take 6
    slices, the last one short): the file has each user once, in order, with the answers of a one-slice job."""
    train_model(tenant_a, django_capture_on_commit_callbacks)
    body = {"k": 3, "format": file_format}

    def answers(text):
        if file_format == "jsonl":
            records = [json.loads(line) for line in text.splitlines()]
            return [(r["user_id"], [item["item_id"] for item in r["items"]], r["fallback"]) for r in records]
        rows = list(csv.DictReader(io.StringIO(text)))
        users = list(dict.fromkeys(row["user_id"] for row in rows))
        return [(user, [row["item_id"] for row in rows if row["user_id"] == user], "") for user in users]

    _, whole = _batch_file(tenant_a, django_capture_on_commit_callbacks, body)
    settings.PLATFORM = {**settings.PLATFORM, "LIMITS": {**settings.PLATFORM["LIMITS"], "BATCH_SLICE_USERS": 7}}
    status, sliced = _batch_file(tenant_a, django_capture_on_commit_callbacks, body)
    assert status["progress"] == 1.0
    assert answers(sliced) == answers(whole)
    assert len(answers(sliced)) == 40 and [user for user, *_ in answers(sliced)] == sorted(
        {user for user, *_ in answers(sliced)}
    )
    if file_format == "csv":
        assert sliced.splitlines()[0] == "user_id,rank,item_id,score,fallback,recommendation_id"
        assert sliced.count("user_id,rank") == 1, "one header, not one per slice"
    # 40 users in slices of 8 end exactly on a full slice; 35 listed ones in slices of 7 too: both still finish.
    settings.PLATFORM = {**settings.PLATFORM, "LIMITS": {**settings.PLATFORM["LIMITS"], "BATCH_SLICE_USERS": 8}}
    status, text = _batch_file(tenant_a, django_capture_on_commit_callbacks, body)
    assert answers(text) == answers(whole) and status["progress"] == 1.0
    settings.PLATFORM = {**settings.PLATFORM, "LIMITS": {**settings.PLATFORM["LIMITS"], "BATCH_SLICE_USERS": 7}}
    listed = [f"u{n}" for n in range(35)]
    status, text = _batch_file(tenant_a, django_capture_on_commit_callbacks, {**body, "user_ids": listed})
    assert [user for user, *_ in answers(text)] == listed and status["progress"] == 1.0
