"""Freshness without retraining: events sent after training change a known user's recommendations at once.

Every recipe family is checked on the planted-taste data (users of group g mostly like items of group g):
user u0 (group 0) sends four events on group-1 items after training, and the very next answer moves towards
group 1 and says how many of those events it read. Item-item models score from the current history;
two_tower folds the new items' vectors into the user's; NeuMF moves the user's embeddings towards those of
the users who had the new items; sequence models read the latest events.
"""

import pytest

from ..serving.conftest import train_model

FAST = {
    "ease": {},
    "sparse_ease": {},
    "two_tower": {"epochs": 8, "embedding_dim": 16, "tower_layers": [32], "output_dim": 16},
    "neumf": {"epochs": 8, "gmf_dim": 8, "mlp_dim": 8, "mlp_layers": [16, 8], "batch_size": 256},
    "session_knn": {"max_history": 10},
    "sasrec": {"epochs": 20, "max_history": 10},
}
NEW = ["i1", "i5", "i9", "i13"]  # group 1: u0 has none of them (group 0 likes i0, i4, i8, ...)


GROUP_1 = [f"i{item}" for item in range(1, 60, 4) if f"i{item}" not in NEW]


def _mean_rank_of_group_1(client):
    """Where the other group-1 items stand, on average, when u0's model ranks the whole catalogue."""
    body = {"user_id": "u0", "item_ids": [f"i{item}" for item in range(60)]}
    answer = client.post("/api/v1/models/recs/rank", body, format="json").json()
    ranked = [entry["item_id"] for entry in answer["items"]]
    return sum(ranked.index(item) for item in GROUP_1) / len(GROUP_1)


@pytest.mark.parametrize("recipe", list(FAST))
def test_events_after_training_change_a_known_users_recommendations(
    recipe, tenant_a, django_capture_on_commit_callbacks
):
    train_model(tenant_a, django_capture_on_commit_callbacks, recipe=recipe, params=FAST[recipe])
    client = tenant_a.client
    ask = {"user_id": "u0", "k": 10}
    before = client.get("/api/v1/models/recs/recommendations", ask).json()
    rank_before = _mean_rank_of_group_1(client)
    assert before["fallback"] is None, before
    seen = {entry["item_id"] for entry in before["items"]}
    events = [{"user_id": "u0", "item_id": item, "event_type": "view"} for item in NEW if item not in seen]
    events += [{"user_id": "u0", "item_id": item, "event_type": "view"} for item in NEW if item in seen]
    assert client.post("/api/v1/events", {"events": events}, format="json").json()["accepted"] == 4

    after = client.get("/api/v1/models/recs/recommendations", ask).json()
    assert after["fallback"] is None
    assert [entry["item_id"] for entry in after["items"]] != [entry["item_id"] for entry in before["items"]]
    assert not {entry["item_id"] for entry in after["items"]} & set(NEW), "what the user has is left out"
    # The rest of group 1 moves up: the model read the new taste, not just the new items.
    assert _mean_rank_of_group_1(client) < rank_before
    history = after["history"]
    if recipe in ("session_knn", "sasrec"):
        assert history["events_used"] == min(10, before["history"]["events_used"] + 4)
    else:
        assert history["since_training"] == 4 and before["history"]["since_training"] == 0
        assert history["events_used"] == before["history"]["events_used"] + 4
