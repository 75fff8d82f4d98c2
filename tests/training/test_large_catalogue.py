"""A default model trains on a catalogue too large for EASE (the bug that made the issue), CI-sized.

About 50,000 items (each user's 5 picks are drawn at random within a taste
group of 1,000) are beyond EASE's 20,000-item cap; 40,000 users with 5 items
each keep the test quick on two cores while every layer sees the catalogue's size.
"""

import pytest
from django.db import connection
from django.urls import reverse

from recommender.data.models import Dataset
from tenants.models import Plan

from ..portal.conftest import signed_in

pytestmark = pytest.mark.django_db

N_ITEMS, N_USERS, PER_USER, GROUPS = 50_000, 40_000, 5, 50


def _large_dataset(tenant):
    """Users of group g pick items of group g (item % GROUPS == g): planted taste, written in one statement."""
    dataset = Dataset.objects.create(tenant=tenant, name="large", kind=Dataset.Kind.INTERACTIONS)
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.42)")
        cursor.execute(
            """
            INSERT INTO data_interaction (tenant_id, dataset_id, user_id, item_id, "timestamp", event_type, created_at)
            SELECT %s, %s, 'u' || (n / %s), 'i' || ((floor(random() * %s)::int * %s) + (n / %s) %% %s),
                   timestamp '2026-01-01' + (n %% %s) * interval '1 hour', 'view', now()
            FROM generate_series(0, %s - 1) AS n
            """,
            [tenant.pk, dataset.pk, PER_USER, N_ITEMS // GROUPS, GROUPS, PER_USER, GROUPS, PER_USER,
             N_USERS * PER_USER],
        )  # fmt: skip
    return dataset


def test_default_model_trains_on_a_catalogue_too_large_for_ease(tenant_a, django_capture_on_commit_callbacks):
    # A plan whose time limit leaves no room for the neural recipes keeps this test short.
    tenant_a.tenant.plan = Plan.objects.create(name="short runs", training_time_limit_seconds=120)
    tenant_a.tenant.save()
    dataset = _large_dataset(tenant_a.tenant)
    client = tenant_a.client

    # Hand-picked EASE is refused before any training, naming what fits.
    assert client.post("/api/v1/models", {"name": "ease", "dataset": dataset.pk, "recipe": "ease"},
                       format="json").status_code == 201  # fmt: skip
    refused = client.post("/api/v1/models/ease/train", {}, format="json")
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "recipe_too_large" and "sparse_ease" in error["details"]["fitting_recipes"]
    assert "ease cannot train" in error["message"] and "sparse_ease" in error["message"] and "auto" in error["message"]
    assert client.get("/api/v1/models/ease/runs").json()["count"] == 0

    # The default model chooses for itself and succeeds.
    created = client.post("/api/v1/models", {"name": "recs", "dataset": dataset.pk}, format="json")
    assert created.status_code == 201 and created.json()["recipe"] == "auto"
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post("/api/v1/models/recs/train", {}, format="json")
    assert started.status_code == 202, started.json()
    run = client.get(f"/api/v1/runs/{started.json()['id']}").json()
    assert run["status"] == "succeeded", run["error"]

    selection = run["selection"]
    assert selection["requested"] == "auto" and run["recipe"] == selection["chosen"] == "sparse_ease"
    items = selection["data"]["items"]
    assert items > 45_000 and selection["data"]["interactions"] == N_USERS * PER_USER
    outcome = {candidate["recipe"]: candidate for candidate in selection["candidates"]}
    assert outcome["ease"]["status"] == "skipped" and f"{items:,} items" in outcome["ease"]["reason"]
    assert outcome["neumf"]["status"] == "skipped" and "120 s" in outcome["neumf"]["reason"]
    assert outcome["popularity"]["score"] < outcome["sparse_ease"]["score"]
    assert run["metrics"]["metrics"]["ndcg@10"] == pytest.approx(max(t["score"] for t in selection["tuning"]))

    # The first version is deployed and serves personalised picks from the user's taste group.
    body = client.get("/api/v1/models/recs/recommendations", {"user_id": "u7", "k": 5}).json()
    assert body["fallback"] is None and len(body["items"]) == 5
    assert all(int(item["item_id"][1:]) % GROUPS == 7 for item in body["items"])

    # The run's page shows the choice with every candidate.
    page = signed_in(tenant_a.owner, tenant_a.tenant).get(reverse("portal:model_run", args=[run["id"]]))
    text = page.content.decode()
    assert page.status_code == 200 and "Recipe choice" in text and f"{items:,} items" in text
    assert all(f"<td>{name}</td>" in text for name in outcome)
