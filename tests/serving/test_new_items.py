"""Catalogue items added after training are served at once, placed by their text (two_tower, sasrec)."""

import pytest

from recommender.data.models import Item

from .conftest import train_model

pytestmark = pytest.mark.django_db

# Made-up words per taste group (the factory's users of group g pick items i with i % 4 == g).
WORDS = {0: "zorba kelim", 1: "vatu mirelo", 2: "plonk esqua", 3: "drubi fanto"}


@pytest.fixture
def towered(tenant_a, django_capture_on_commit_callbacks):
    """Tenant A whose catalogue titles carry the taste, with a two_tower model 'towers' deployed."""
    Item.objects.bulk_create(
        Item(tenant=tenant_a.tenant, item_id=f"i{n}", title=f"{WORDS[n % 4]} number{n}") for n in range(60)
    )
    params = {"epochs": 15, "batch_size": 64, "text_buckets": 256}
    tenant_a.dataset = train_model(
        tenant_a, django_capture_on_commit_callbacks, slug="towers", recipe="two_tower", params=params
    )
    return tenant_a


def _ids(response):
    body = response.json()
    assert response.status_code == 200, body
    return [entry["item_id"] for entry in body["items"]], body


def test_a_new_item_gets_similar_items_and_reaches_users_of_its_taste_without_retraining(towered, settings):
    # Processes look for new catalogue items every SERVING_NEW_ITEMS_SECONDS; here on every request.
    settings.PLATFORM = {**settings.PLATFORM, "SERVING_NEW_ITEMS_SECONDS": 0}
    client = towered.client
    # Before the item exists, the model cannot know it.
    _, body = _ids(client.get("/api/v1/models/towers/similar-items", {"item_id": "fresh", "k": 5}))
    assert body["fallback"] == {"kind": "popularity", "reason": "unknown_item"}
    new = {"item_id": "fresh", "title": f"{WORDS[1]} brand new", "categories": ["new"]}
    assert client.put("/api/v1/items", {"items": [new]}, format="json").status_code == 200

    similar, body = _ids(client.get("/api/v1/models/towers/similar-items", {"item_id": "fresh", "k": 5}))
    assert body["fallback"] is None and body["version"] == 1  # no new version: placed by its text
    assert sum(int(item[1:]) % 4 == 1 for item in similar) >= 4  # its taste group, by its words
    # A user of that taste (u1, group 1) finds it among their recommendations; one of another taste does not.
    picks, body = _ids(client.get("/api/v1/models/towers/recommendations", {"user_id": "u1", "k": 10}))
    assert body["fallback"] is None and "fresh" in picks
    picks, _ = _ids(client.get("/api/v1/models/towers/recommendations", {"user_id": "u2", "k": 10}))
    assert "fresh" not in picks


def test_a_model_without_item_text_keeps_new_items_out(served):
    new = {"item_id": "fresh", "title": "brand new"}
    assert served.client.put("/api/v1/items", {"items": [new]}, format="json").status_code == 200
    _, body = _ids(served.client.get("/api/v1/models/recs/similar-items", {"item_id": "fresh", "k": 3}))
    assert body["fallback"] == {"kind": "popularity", "reason": "unknown_item"}
