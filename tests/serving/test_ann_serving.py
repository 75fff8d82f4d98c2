"""A deployed embedding model above ANN_MIN_ITEMS serves through its nearest-neighbour index."""

import pytest

from recommender.data.models import Interaction, Item
from recommender.serving.loader import served_model

from ..factories import make_interactions_dataset
from .conftest import train_model

pytestmark = pytest.mark.django_db


def _item_ids(response):
    return [item["item_id"] for item in response.json()["items"]]


def test_two_tower_above_the_threshold_serves_through_the_index(
    tenant_a, django_capture_on_commit_callbacks, settings, monkeypatch
):
    # CI-sized: the threshold comes down to the catalogue instead of the catalogue going up to it.
    monkeypatch.setitem(settings.PLATFORM["TRAINING"], "ANN_MIN_ITEMS", 200)
    settings.PLATFORM = {**settings.PLATFORM, "LOCAL_CACHE_SECONDS": 0}
    dataset = make_interactions_dataset(tenant_a.tenant, n_users=60, n_items=240, per_user=10)
    train_model(
        tenant_a, django_capture_on_commit_callbacks, recipe="two_tower", dataset=dataset,
        params={"epochs": 2, "batch_size": 64},
    )  # fmt: skip
    scorer = served_model(tenant_a.tenant, "recs").scorer
    assert scorer.n_items >= 200 and scorer.item_index.n_items == scorer.n_items

    seen = set(Interaction.objects.filter(tenant=tenant_a.tenant, user_id="u1").values_list("item_id", flat=True))
    response = tenant_a.client.get("/api/v1/models/recs/recommendations", {"user_id": "u1", "k": 10})
    assert response.status_code == 200 and response.json()["fallback"] is None
    picks = _item_ids(response)
    assert len(picks) == 10 and not seen & set(picks)
    assert picks == [item_id for item_id, _ in scorer.recommend("u1", 10, exclude_item_ids=seen)]

    # A category filter on the index path: only items of the category come back.
    Item.objects.bulk_create(
        [Item(tenant=tenant_a.tenant, item_id=f"i{n}", categories=["odd" if n % 2 else "even"]) for n in range(240)]
    )
    odd = _item_ids(tenant_a.client.get("/api/v1/models/recs/recommendations", {"user_id": "u1", "category": "odd"}))
    assert odd and all(int(item[1:]) % 2 == 1 for item in odd)

    similar = tenant_a.client.get("/api/v1/models/recs/similar-items", {"item_id": "i1", "k": 5}).json()
    assert similar["fallback"] is None and len(similar["items"]) == 5
    assert "i1" not in [item["item_id"] for item in similar["items"]]
    counts = served_model(tenant_a.tenant, "recs").scorer.retrieval_counts
    assert counts["ann"] + counts["exact_fallback"] == 4 and counts["ann"] >= 3
