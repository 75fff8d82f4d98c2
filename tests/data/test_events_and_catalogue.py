"""The events API (per-event validation, idempotent retries) and the catalogue API."""

import pytest

from recommender.data import selectors
from recommender.data.models import Interaction, Item
from tenants.models import AuditLog
from tenants.selectors import forget_cached_key

from ..conftest import key_client
from ..factories import make_api_key

pytestmark = pytest.mark.django_db


def send(world, events, **extra):
    return world.client.post("/api/v1/events", {"events": events, **extra}, format="json")


def test_events_go_to_the_default_events_dataset(tenant_a):
    response = send(tenant_a, [{"user_id": "u1", "item_id": "i1", "event_type": "view", "timestamp": 1700000000}])
    assert response.status_code == 200
    assert response.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    datasets = tenant_a.client.get("/api/v1/datasets").json()["results"]
    assert [(d["name"], d["kind"], d["is_event_stream"], d["row_count"]) for d in datasets] == [
        ("events", "interactions", True, 1)
    ]


def test_each_event_is_judged_on_its_own_and_rejections_name_index_and_field(tenant_a):
    events = [
        {"user_id": "u1", "item_id": "i1"},
        {"item_id": "i2"},
        {"user_id": "u3", "item_id": "i3", "value": "high"},
        "not an event",
        {"user_id": "u5", "item_id": "i5", "timestamp": "2024-13-45"},
        {"user_id": "u6", "item_id": "i6", "value": 2.5, "timestamp": "2024-05-01T10:00:00Z"},
    ]
    body = send(tenant_a, events).json()
    assert body["accepted"] == 2 and body["duplicates"] == 0
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [
        (1, "user_id"),
        (2, "value"),
        (3, ""),
        (4, "timestamp"),
    ]
    assert body["rejected"][0]["reason"] == "is missing or empty"
    assert sorted(Interaction.objects.unscoped().values_list("user_id", flat=True)) == ["u1", "u6"]


def test_event_ids_make_retries_idempotent(tenant_a):
    batch = [{"user_id": "u1", "item_id": f"i{n}", "event_id": f"e{n}"} for n in range(5)]
    assert send(tenant_a, batch).json() == {"accepted": 5, "duplicates": 0, "rejected": []}
    retry = batch + [
        {"user_id": "u1", "item_id": "i9", "event_id": "e9"},
        {"user_id": "u1", "item_id": "i9", "event_id": "e9"},
    ]
    assert send(tenant_a, retry).json() == {"accepted": 1, "duplicates": 6, "rejected": []}
    assert Interaction.objects.unscoped().count() == 6


def test_event_ids_are_per_tenant(tenant_a, tenant_b):
    event = [{"user_id": "u1", "item_id": "i1", "event_id": "same"}]
    assert send(tenant_a, event).json()["accepted"] == 1
    assert send(tenant_b, event).json()["accepted"] == 1


def test_batch_limits_and_scope(tenant_a):
    assert send(tenant_a, []).status_code == 400
    too_many = [{"user_id": "u", "item_id": "i"}] * 1001
    assert send(tenant_a, too_many).status_code == 400
    _, recommend_only = make_api_key(tenant_a.tenant, scopes=["recommend"])
    refused = key_client(recommend_only).post(
        "/api/v1/events", {"events": [{"user_id": "u", "item_id": "i"}]}, format="json"
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "insufficient_scope"


def test_events_may_name_an_interactions_dataset(tenant_a, make_dataset):
    clicks, catalogue = make_dataset(tenant_a, name="clicks"), make_dataset(tenant_a, kind="items")
    assert send(tenant_a, [{"user_id": "u", "item_id": "i"}], dataset=clicks.pk).json()["accepted"] == 1
    assert Interaction.objects.unscoped().get().dataset_id == clicks.pk
    wrong_kind = send(tenant_a, [{"user_id": "u", "item_id": "i"}], dataset=catalogue.pk)
    assert wrong_kind.status_code == 400 and "holds items" in wrong_kind.json()["error"]["message"]


def test_events_over_the_row_quota_are_refused(tenant_a):
    plan = tenant_a.tenant.plan
    plan.max_rows = 2
    plan.save()
    forget_cached_key()
    response = send(tenant_a, [{"user_id": "u", "item_id": f"i{n}"} for n in range(3)])
    assert response.status_code == 429 and response.json()["error"]["code"] == "quota_exceeded"
    assert "limit of 2 rows" in response.json()["error"]["message"]
    assert not Interaction.objects.unscoped().exists()


def test_items_upsert_then_deactivate(tenant_a):
    first = tenant_a.client.put(
        "/api/v1/items",
        [
            {"item_id": "i1", "title": "Red shoe", "categories": ["shoes", "red"], "features": {"price": 30}},
            {"item_id": "i2", "title": "Hat", "categories": ["hats"]},
        ],
        format="json",
    )
    assert first.status_code == 200 and first.json() == {"created": 2, "updated": 0}
    second = tenant_a.client.put(
        "/api/v1/items", {"items": [{"item_id": "i1", "features": {"colour": "red"}}]}, format="json"
    )
    assert second.json() == {"created": 0, "updated": 1}
    shoe = tenant_a.client.get("/api/v1/items/i1").json()
    assert shoe["title"] == "Red shoe" and shoe["features"] == {"price": 30, "colour": "red"}

    deleted = tenant_a.client.delete("/api/v1/items/i2")
    assert deleted.status_code == 200 and deleted.json()["is_active"] is False
    assert tenant_a.client.delete("/api/v1/items/nope").status_code == 404
    tenant = tenant_a.tenant
    assert selectors.inactive_item_ids(tenant) == {"i2"}
    assert selectors.item_ids_in_categories(tenant, ["red", "hats"]) == {"i1", "i2"}
    assert selectors.item_ids_in_categories(tenant, ["socks"]) == set()
    assert selectors.item_titles(tenant, ["i1", "zz"]) == {"i1": "Red shoe"}
    assert AuditLog.objects.filter(tenant=tenant, action__in=["items.upserted", "item.deactivated"]).count() == 3


def test_a_deactivated_item_is_reactivated_by_sending_it_with_is_active_true(tenant_a):
    """The API's way back for a deactivated item (the portal's catalogue page names it)."""
    tenant_a.client.put("/api/v1/items", [{"item_id": "i2", "title": "Hat"}], format="json")
    tenant_a.client.delete("/api/v1/items/i2")
    assert selectors.inactive_item_ids(tenant_a.tenant) == {"i2"}

    again = tenant_a.client.put("/api/v1/items", [{"item_id": "i2", "is_active": True}], format="json")
    assert again.json() == {"created": 0, "updated": 1}
    hat = tenant_a.client.get("/api/v1/items/i2").json()
    assert hat["is_active"] is True and hat["title"] == "Hat"
    assert selectors.inactive_item_ids(tenant_a.tenant) == set()


def test_item_upsert_is_all_or_nothing_with_errors_by_index(tenant_a):
    response = tenant_a.client.put(
        "/api/v1/items",
        [{"item_id": "ok"}, {"item_id": ""}, {"item_id": "x", "is_active": "perhaps"}],
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"]["items"] == {
        "1": {"item_id": ["is missing or empty"]},
        "2": {"is_active": ["'perhaps' is not true or false"]},
    }
    assert not Item.objects.unscoped().exists()
    unknown = tenant_a.client.put("/api/v1/items", [{"item_id": "a", "colour": "red"}], format="json")
    assert unknown.status_code == 400 and "features" in unknown.json()["error"]["message"]
