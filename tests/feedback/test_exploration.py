"""Exploration: new catalogue items get a share of the slots, by Thompson sampling on their attributed clicks."""

from recommender.serving.loader import forget_all

from .conftest import settle


def _recommend(world, user_id, k=10):
    answer = world.client.get("/api/v1/models/recs/recommendations", {"user_id": user_id, "k": k})
    assert answer.status_code == 200, answer.content
    return answer.json()


def _add_items(world, *item_ids):
    response = world.client.put("/api/v1/items", {"items": [{"item_id": item} for item in item_ids]}, format="json")
    assert response.status_code == 200, response.content


def test_exploration_settings_are_checked_naming_the_field(served, tenant_b):
    assert served.client.get("/api/v1/models/recs/exploration").json() == {"weight": 0.0, "max_item_age_days": 7}
    bad = served.client.put("/api/v1/models/recs/exploration", {"weight": 1.5}, format="json")
    assert bad.status_code == 400 and "weight" in bad.json()["error"]["details"]
    assert tenant_b.client.put("/api/v1/models/recs/exploration", {"weight": 0.3}, format="json").status_code == 404
    ok = served.client.put("/api/v1/models/recs/exploration", {"weight": 0.3, "max_item_age_days": 3}, format="json")
    assert ok.json() == {"weight": 0.3, "max_item_age_days": 3}


def test_a_share_of_the_slots_goes_to_new_items_flagged_and_spread_through_the_list(served):
    _add_items(served, "new-1", "new-2", "new-3", "new-4")
    assert not any(item.get("explored") for item in _recommend(served, "u1")["items"]), "weight 0: none"
    served.client.put("/api/v1/models/recs/exploration", {"weight": 0.3}, format="json")
    forget_all()
    for user in range(8):
        items = _recommend(served, f"u{user}")["items"]
        explored = [position for position, item in enumerate(items) if item.get("explored")]
        assert len(items) == 10 and len({item["item_id"] for item in items}) == 10
        assert len(explored) == 3, items
        assert all(items[position]["item_id"].startswith("new-") for position in explored)
        assert explored != [7, 8, 9], "spread through the list, not all at the bottom"
    assert not any(item.get("explored") for item in _recommend(served, "u1", k=1)["items"]), "round(1 × 0.3) = 0 slots"


def test_thompson_sampling_favours_the_new_item_that_gets_clicked(served):
    _add_items(served, "new-liked", "new-ignored")
    served.client.put("/api/v1/models/recs/exploration", {"weight": 0.1}, format="json")
    forget_all()
    events = []
    shown = {"new-liked": 0, "new-ignored": 0}
    # Users u0-u19 try the new items; a clicked item becomes part of the user's history (never re-offered to them).
    for request in range(60):
        user_id = f"u{request % 20}"
        answer = _recommend(served, user_id)
        for item in answer["items"]:
            if item.get("explored"):
                shown[item["item_id"]] += 1
                if item["item_id"] == "new-liked":
                    events.append({"user_id": user_id, "item_id": "new-liked", "event_type": "click",
                                   "recommendation_id": answer["recommendation_id"]})  # fmt: skip
    assert shown["new-liked"] > 5 and shown["new-ignored"] > 5, "before any evidence, both are tried"
    served.client.post("/api/v1/events", {"events": events}, format="json")
    settle()
    forget_all()  # every process re-reads the counts within 30 s
    later = {"new-liked": 0, "new-ignored": 0}
    for request in range(40):  # users who have neither item yet
        for item in _recommend(served, f"u{20 + request % 20}")["items"]:
            if item.get("explored"):
                later[item["item_id"]] += 1
    assert later["new-liked"] >= 36 and sum(later.values()) == 40, later
