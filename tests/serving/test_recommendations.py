"""The recommend-scope endpoints: answers, filters, fallbacks, explanations, errors."""

import pytest

from recommender.data.models import Interaction, Item
from recommender.training.models import Deployment

from ..conftest import key_client
from ..factories import make_api_key
from .conftest import train_model

pytestmark = pytest.mark.django_db


def _recommend(world, **params):
    return world.client.get("/api/v1/models/recs/recommendations", {"user_id": "u1", **params})


def _item_ids(response):
    return [item["item_id"] for item in response.json()["items"]]


def test_answer_shape_for_a_known_user(served):
    response = _recommend(served, k=5)
    body = response.json()
    assert response.status_code == 200
    assert body["model"] == "recs" and body["version"] == 1 and body["user_id"] == "u1"
    assert body["fallback"] is None and len(body["request_id"]) == 32
    assert response["X-Request-ID"] == body["request_id"]
    scores = [item["score"] for item in body["items"]]
    assert len(scores) == 5 and scores == sorted(scores, reverse=True)


def test_learned_taste_shows_in_recommendations(served):
    # u1 is in taste group 1: items i1, i5, i9, … (see the factory); most picks come from there.
    picks = _item_ids(_recommend(served, k=5))
    assert sum(int(item[1:]) % 4 == 1 for item in picks) >= 3


def test_exclude_seen_sees_events_that_arrived_after_training(served):
    seen = set(Interaction.objects.filter(tenant=served.tenant, user_id="u1").values_list("item_id", flat=True))
    first = _item_ids(_recommend(served, k=3))
    assert not seen & set(first)
    Interaction.objects.create(tenant=served.tenant, dataset=served.dataset, user_id="u1", item_id=first[0])
    assert first[0] not in _item_ids(_recommend(served, k=3))
    assert first[0] in _item_ids(_recommend(served, k=60, exclude_seen="false"))


def test_exclude_category_and_inactive_filters(served, settings):
    # Processes re-read deactivations once a second; with no caching the change shows at once.
    settings.PLATFORM = {**settings.PLATFORM, "LOCAL_CACHE_SECONDS": 0}
    Item.objects.bulk_create(
        [Item(tenant=served.tenant, item_id=f"i{n}", categories=["even" if n % 2 == 0 else "odd"]) for n in range(60)]
    )
    top = _item_ids(_recommend(served, k=3))
    assert top[0] not in _item_ids(_recommend(served, k=3, exclude=top[0]))
    assert all(int(item[1:]) % 2 == 0 for item in _item_ids(_recommend(served, k=5, category="even")))
    Item.objects.filter(tenant=served.tenant, item_id=top[0]).update(is_active=False)
    assert top[0] not in _item_ids(_recommend(served, k=60))


def test_unknown_user_gets_the_flagged_popularity_fallback(served):
    body = served.client.get("/api/v1/models/recs/recommendations", {"user_id": "stranger", "k": 3}).json()
    assert body["fallback"] == {"kind": "popularity", "reason": "unknown_user"}
    assert len(body["items"]) == 3


def test_new_user_with_events_after_training_is_personalised_by_history(served):
    Interaction.objects.bulk_create(
        [Interaction(tenant=served.tenant, dataset=served.dataset, user_id="newbie", item_id=f"i{n}") for n in (2, 6)]
    )
    body = served.client.get("/api/v1/models/recs/recommendations", {"user_id": "newbie", "k": 4}).json()
    assert body["fallback"] is None
    assert sum(int(item[1:]) % 4 == 2 for item in _item_ids_from(body)) >= 3


def _item_ids_from(body):
    return [item["item_id"] for item in body["items"]]


def test_erased_user_is_no_longer_personalised(served):
    assert served.client.delete("/api/v1/users/u1").status_code == 200
    body = _recommend(served, k=3).json()
    assert body["fallback"] == {"kind": "popularity", "reason": "erased_user"}


def test_model_without_deployment_serves_the_fallback(tenant_a):
    from ..factories import make_interactions_dataset

    dataset = make_interactions_dataset(tenant_a.tenant)
    tenant_a.client.post("/api/v1/models", {"name": "recs", "dataset": dataset.pk}, format="json")
    body = _recommend(tenant_a, k=3).json()
    assert body["version"] is None and body["fallback"]["reason"] == "no_deployment" and len(body["items"]) == 3


def test_explain_names_the_users_items_that_support_each_pick(served):
    body = _recommend(served, k=3, explain="true").json()
    history = set(Interaction.objects.filter(tenant=served.tenant, user_id="u1").values_list("item_id", flat=True))
    for item in body["items"]:
        assert item["because"], item
        assert {reason["item_id"] for reason in item["because"]} <= history


def test_similar_items_and_unknown_item_fallback(served):
    body = served.client.get("/api/v1/models/recs/similar-items", {"item_id": "i1", "k": 4}).json()
    assert body["item_id"] == "i1" and body["fallback"] is None
    assert "i1" not in _item_ids_from(body)
    assert sum(int(item[1:]) % 4 == 1 for item in _item_ids_from(body)) >= 3
    unknown = served.client.get("/api/v1/models/recs/similar-items", {"item_id": "nope"}).json()
    assert unknown["fallback"]["reason"] == "unknown_item"


def test_rank_orders_the_given_items_and_puts_unknown_ones_last(served):
    items = ["i0", "i1", "i2", "ghost", "i5"]
    body = served.client.post("/api/v1/models/recs/rank", {"user_id": "u1", "item_ids": items}, format="json").json()
    ranked = _item_ids_from(body)
    assert sorted(ranked) == sorted(items) and ranked[-1] == "ghost"
    assert body["items"][-1]["score"] is None
    assert set(ranked[:2]) == {"i1", "i5"}  # u1's taste group


def test_rank_refuses_more_than_500_items(served):
    response = served.client.post(
        "/api/v1/models/recs/rank", {"user_id": "u1", "item_ids": [f"i{n}" for n in range(501)]}, format="json"
    )
    assert response.status_code == 400 and "item_ids" in response.json()["error"]["details"]


@pytest.mark.parametrize("params, field", [({"k": 0}, "k"), ({"k": 501}, "k"), ({}, "user_id")])
def test_bad_queries_name_the_field(served, params, field):
    query = {"user_id": "u1", **params} if field != "user_id" else params
    response = served.client.get("/api/v1/models/recs/recommendations", query)
    assert response.status_code == 400 and field in response.json()["error"]["details"]


def test_unknown_model_is_404_and_scope_is_enforced(served):
    assert served.client.get("/api/v1/models/nope/recommendations", {"user_id": "u1"}).status_code == 404
    _, ingest_only = make_api_key(served.tenant, scopes=["ingest"], name="ingest")
    response = key_client(ingest_only).get("/api/v1/models/recs/recommendations", {"user_id": "u1"})
    assert response.status_code == 403 and response.json()["error"]["code"] == "insufficient_scope"


def test_rollback_is_served_at_once(served, django_capture_on_commit_callbacks, settings):
    settings.PLATFORM = {**settings.PLATFORM, "LOCAL_CACHE_SECONDS": 0}
    served.client.patch("/api/v1/models/recs", {"recipe": "popularity", "auto_deploy": "always"}, format="json")
    with django_capture_on_commit_callbacks(execute=True):
        served.client.post("/api/v1/models/recs/train", {}, format="json")
    assert _recommend(served).json()["version"] == 2
    served.client.post("/api/v1/models/recs/versions/1/deploy")
    assert _recommend(served).json()["version"] == 1
    assert Deployment.objects.unscoped().get(config__slug="recs").version.number == 1


def test_other_tenants_model_is_404_everywhere(served, tenant_b, django_capture_on_commit_callbacks):
    train_model(tenant_b, django_capture_on_commit_callbacks, slug="b-only", recipe="popularity")
    for client, slug in ((tenant_b.client, "recs"), (served.client, "b-only")):
        assert client.get(f"/api/v1/models/{slug}/recommendations", {"user_id": "u1"}).status_code == 404
        assert client.get(f"/api/v1/models/{slug}/similar-items", {"item_id": "i1"}).status_code == 404
        rank = client.post(f"/api/v1/models/{slug}/rank", {"user_id": "u1", "item_ids": ["i1"]}, format="json")
        assert rank.status_code == 404
        predict = client.post(f"/api/v1/models/{slug}/predict", {"rows": [{"a": 1}]}, format="json")
        assert predict.status_code == 404
        batch = client.post(f"/api/v1/models/{slug}/batch-recommendations", {}, format="json")
        assert batch.status_code == 404


def test_fallback_scores_are_shares_of_the_most_popular_item(served):
    """Once raw interaction counts (1673.0) beside model scores of another scale: now 1.0 for the top item."""
    from collections import Counter

    from recommender.data.models import Interaction

    counts = Counter(Interaction.objects.for_tenant(served.tenant).values_list("item_id", flat=True))
    (top_item, top), (second_item, second) = sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))[:2]
    body = served.client.get("/api/v1/models/recs/recommendations?user_id=nobody&k=2").json()
    assert body["fallback"]["reason"] == "unknown_user"
    assert body["items"] == [
        {"item_id": top_item, "score": 1.0},
        {"item_id": second_item, "score": round(second / top, 6)},
    ]
    ranked = served.client.post(
        "/api/v1/models/recs/rank", {"user_id": "nobody", "item_ids": [second_item, top_item]}, format="json"
    ).json()
    assert [entry["score"] for entry in ranked["items"]] == [1.0, round(second / top, 6)]


@pytest.mark.parametrize("parameter", ["category", "exclude"])
def test_an_empty_list_parameter_is_refused_as_the_schema_says(served, parameter):
    for path in ("recommendations?user_id=u1", "similar-items?item_id=i1"):
        response = served.client.get(f"/api/v1/models/recs/{path}&{parameter}=")
        assert response.status_code == 400, response.content
        assert parameter in response.json()["error"]["details"]
