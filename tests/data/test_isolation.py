"""Tenant B never reads, lists or changes tenant A's datasets, imports, items or end users."""

import pytest

from recommender.data.models import Interaction, Item

pytestmark = pytest.mark.django_db


@pytest.fixture
def a_data(tenant_a, make_dataset, upload):
    dataset = make_dataset(tenant_a)
    _, job = upload(tenant_a, dataset, "user_id,item_id\nalice,i1\n")
    tenant_a.client.put("/api/v1/items", [{"item_id": "secret-item", "title": "A's"}], format="json")
    return dataset, job


def test_foreign_objects_answer_404_like_missing_ones(tenant_a, tenant_b, a_data):
    dataset, job = a_data
    client = tenant_b.client
    for url in (
        f"/api/v1/datasets/{dataset.pk}",
        f"/api/v1/datasets/{dataset.pk}/stats",
        f"/api/v1/datasets/{dataset.pk}/imports",
        f"/api/v1/imports/{job['id']}",
        "/api/v1/items/secret-item",
    ):
        foreign, missing = (
            client.get(url),
            client.get(
                url.replace(str(dataset.pk), "999999").replace(str(job["id"]), "999999").replace("secret-item", "nope")
            ),
        )
        assert foreign.status_code == 404, url
        assert foreign.json()["error"]["code"] == missing.json()["error"]["code"] == "not_found"
    assert client.post(f"/api/v1/datasets/{dataset.pk}/imports", {}, format="multipart").status_code == 404
    assert client.delete("/api/v1/items/secret-item").status_code == 404
    events = client.post(
        "/api/v1/events", {"events": [{"user_id": "u", "item_id": "i"}], "dataset": dataset.pk}, format="json"
    )
    assert events.status_code == 404
    assert Item.objects.unscoped().get(item_id="secret-item").is_active
    assert Interaction.objects.unscoped().filter(dataset=dataset).count() == 1


def test_erasure_by_another_tenant_touches_nothing(tenant_a, tenant_b, a_data):
    assert tenant_b.client.delete("/api/v1/users/alice").json() == {
        "interactions_deleted": 0,
        "features_deleted": 0,
        "uploads_deleted": 0,
        "batch_files_deleted": 0,
    }
    assert Interaction.objects.filter(tenant=tenant_a.tenant, user_id="alice").exists()


def test_lists_hold_only_own_rows(tenant_a, tenant_b, a_data, make_dataset):
    make_dataset(tenant_b, name="b's")
    tenant_b.client.put("/api/v1/items", [{"item_id": "b-item"}], format="json")
    for world, dataset_names, item_ids in (
        (tenant_a, {"interactions data"}, {"secret-item"}),
        (tenant_b, {"b's"}, {"b-item"}),
    ):
        assert {d["name"] for d in world.client.get("/api/v1/datasets").json()["results"]} == dataset_names
        assert {i["item_id"] for i in world.client.get("/api/v1/items").json()["results"]} == item_ids
    assert tenant_b.client.get("/api/v1/imports").json()["results"] == []
    assert len(tenant_a.client.get("/api/v1/imports").json()["results"]) == 1
