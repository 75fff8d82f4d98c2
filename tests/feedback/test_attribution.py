"""From a recommendation to its attributed click and purchase, through the public API only."""

from django.core.files.uploadedfile import SimpleUploadedFile

from recommender.feedback.models import Impression

from ..serving.conftest import train_model
from .conftest import settle


def _recommend(world, user_id="u1", k=5, slug="recs"):
    response = world.client.get(f"/api/v1/models/{slug}/recommendations", {"user_id": user_id, "k": k})
    assert response.status_code == 200, response.content
    return response.json()


def _send(world, *events):
    response = world.client.post("/api/v1/events", {"events": list(events)}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def _totals(world, **query):
    response = world.client.get("/api/v1/metrics", {"bucket": "15m", **query})
    assert response.status_code == 200, response.content
    series = response.json()["series"]
    return {(entry["model"], entry["version"], entry["arm"]): entry["totals"] for entry in series}


def test_every_answer_carries_an_id_and_what_was_shown_is_recorded(served):
    answers = [
        _recommend(served),
        served.client.get("/api/v1/models/recs/similar-items", {"item_id": "i1", "k": 3}).json(),
        served.client.post(
            "/api/v1/models/recs/rank", {"user_id": "u2", "item_ids": ["i3", "i1"]}, format="json"
        ).json(),
    ]
    ids = [answer["recommendation_id"] for answer in answers]
    assert all(ids) and len(set(ids)) == 3
    assert Impression.objects.unscoped().count() == 0, "nothing is written to the database on the request"
    settle()
    shown = {row.recommendation_id: row for row in Impression.objects.filter(tenant=served.tenant)}
    assert set(shown) == set(ids)
    first = shown[ids[0]]
    assert first.items == [item["item_id"] for item in answers[0]["items"]], "items in the order (positions) shown"
    assert (first.config.slug, first.version_number, first.user_id) == ("recs", 1, "u1")
    assert shown[ids[2]].items == [item["item_id"] for item in answers[2]["items"]]


def test_a_click_and_a_purchase_with_the_id_are_attributed_and_one_without_is_estimated(served):
    answer = _recommend(served)
    rid, first, second = answer["recommendation_id"], answer["items"][0]["item_id"], answer["items"][1]["item_id"]
    outcome = _send(
        served,
        {"user_id": "u1", "item_id": first, "event_type": "click", "recommendation_id": rid},
        {"user_id": "u1", "item_id": first, "event_type": "purchase", "value": 20.0, "recommendation_id": rid},
        # No id: a purchase of another shown item soon after is only estimated.
        {"user_id": "u1", "item_id": second, "event_type": "purchase", "value": 5.0},
    )
    assert outcome["accepted"] == 3
    _recommend(served, user_id="u2")  # a second impression, never clicked
    settle()
    totals = _totals(served)[("recs", 1, None)]
    assert totals["impressions"] == 2
    assert (totals["clicked"], totals["clicks"], totals["ctr"]) == (1, 1, 0.5)
    assert (totals["converted"], totals["conversions"], totals["revenue"]) == (1, 1, 20.0)
    assert totals["revenue_per_mille"] == 10_000.0
    assert (totals["estimated_conversions"], totals["estimated_revenue"]) == (1, 5.0)
    low, high = totals["ctr_ci95"]
    assert low < 0.5 < high


def test_forged_unknown_and_other_tenants_ids_are_accepted_but_never_attributed(
    served, tenant_b, django_capture_on_commit_callbacks
):
    train_model(tenant_b, django_capture_on_commit_callbacks)
    theirs = _recommend(tenant_b)
    mine = _recommend(served)
    item = mine["items"][0]["item_id"]
    outcome = _send(
        served,
        {"user_id": "u1", "item_id": item, "event_type": "click", "recommendation_id": theirs["recommendation_id"]},
        {"user_id": "u1", "item_id": item, "event_type": "click", "recommendation_id": "rec_forged" + "x" * 20},
        {"user_id": "u1", "item_id": item, "event_type": "click", "recommendation_id": "not even our format ✓"},
        # The right id, but about an item the answer did not show.
        {
            "user_id": "u1",
            "item_id": "i-unshown",
            "event_type": "click",
            "recommendation_id": mine["recommendation_id"],
        },
    )
    assert outcome["accepted"] == 4 and outcome["rejected"] == []
    settle()
    assert _totals(served)[("recs", 1, None)]["clicked"] == 0
    assert _totals(tenant_b)[("recs", 1, None)]["clicked"] == 0, "never linked across tenants"


def test_an_id_longer_than_any_we_issue_is_a_rejected_row_not_an_error(served):
    outcome = _send(served, {"user_id": "u1", "item_id": "i1", "event_type": "click", "recommendation_id": "r" * 65})
    assert outcome["accepted"] == 0
    assert outcome["rejected"][0]["field"] == "recommendation_id"


def test_imported_events_carry_the_id_too(served, django_capture_on_commit_callbacks):
    answer = _recommend(served)
    rid, item = answer["recommendation_id"], answer["items"][0]["item_id"]
    csv = f"user_id,item_id,event_type,recommendation_id\nu1,{item},click,{rid}\nu1,{item},view,\n"
    with django_capture_on_commit_callbacks(execute=True):
        response = served.client.post(
            f"/api/v1/datasets/{served.dataset.pk}/imports",
            {"file": SimpleUploadedFile("events.csv", csv.encode())},
            format="multipart",
        )
    assert response.status_code == 202, response.content
    job = served.client.get(f"/api/v1/imports/{response.json()['id']}").json()
    assert job["status"] == "succeeded", job
    settle()
    assert _totals(served)[("recs", 1, None)]["clicked"] == 1


def test_the_tenant_chooses_which_events_count(served):
    answer = _recommend(served)
    item = answer["items"][0]["item_id"]
    rid = answer["recommendation_id"]
    _send(served, {"user_id": "u1", "item_id": item, "event_type": "view", "recommendation_id": rid})
    settle()
    assert _totals(served)[("recs", 1, None)]["clicked"] == 0
    response = served.client.patch("/api/v1/feedback-settings", {"click_event_types": ["view", "click"]}, format="json")
    assert response.status_code == 200 and response.json()["click_event_types"] == ["view", "click"]
    settle()
    assert _totals(served)[("recs", 1, None)]["clicked"] == 1, "recent buckets are recomputed with the new rule"
    bad = served.client.patch("/api/v1/feedback-settings", {"estimated_window_minutes": 0}, format="json")
    assert bad.status_code == 400 and "estimated_window_minutes" in bad.json()["error"]["details"]


def test_metrics_refuse_too_many_points_naming_the_field(served):
    response = served.client.get(
        "/api/v1/metrics", {"bucket": "15m", "start": "2026-01-01T00:00:00Z", "end": "2026-03-01T00:00:00Z"}
    )
    assert response.status_code == 400
    assert "bucket" in response.json()["error"]["details"]
    assert served.client.get("/api/v1/metrics", {"experiment": 999999}).status_code == 404


def test_erasing_an_end_user_removes_what_was_shown_to_them(served):
    _recommend(served, user_id="u1")
    _recommend(served, user_id="u2")
    settle()
    assert served.client.delete("/api/v1/users/u1").status_code == 200
    assert list(Impression.objects.filter(tenant=served.tenant).values_list("user_id", flat=True)) == ["u2"]
