"""Anonymous sessions and real-time history: POST …/session-recommendations, and recent events of known users."""

from datetime import UTC, datetime, timedelta

import pytest

from recommender.data.models import Interaction, Item

from ..factories import make_interactions_dataset
from .conftest import train_model

pytestmark = pytest.mark.django_db

URL = "/api/v1/models/{slug}/session-recommendations"


@pytest.fixture
def knn(tenant_a, django_capture_on_commit_callbacks):
    """Tenant A with a session_knn model 'knn' (reads at most 5 events) deployed."""
    tenant_a.dataset = train_model(
        tenant_a, django_capture_on_commit_callbacks, slug="knn", recipe="session_knn", params={"max_history": 5}
    )
    return tenant_a


def _session(world, slug="knn", **body):
    return world.client.post(URL.format(slug=slug), body, format="json")


def _ids(body):
    return [item["item_id"] for item in body["items"]]


def test_a_session_without_user_id_gets_recommendations_of_its_taste(knn):
    response = _session(knn, item_ids=["i1", "i5", "i9"], k=5)
    body = response.json()
    assert response.status_code == 200, body
    assert body["user_id"] is None and body["fallback"] is None and len(body["request_id"]) == 32
    assert body["session"] == {"events": 3, "events_used": 3, "unknown_items": 0, "left_out": 0, "max_history": 5}
    picks = _ids(body)
    assert len(picks) == 5 and not {"i1", "i5", "i9"} & set(picks)
    assert sum(int(item[1:]) % 4 == 1 for item in picks) >= 3  # taste group 1 (see the factory)


def test_unknown_items_are_ignored_and_counted_and_an_empty_session_falls_back(knn):
    body = _session(knn, item_ids=["ghost", "i1", "i5", "phantom"], k=3).json()
    assert body["fallback"] is None
    assert (body["session"]["events_used"], body["session"]["unknown_items"]) == (2, 2)
    for item_ids in ([], ["ghost"]):
        body = _session(knn, item_ids=item_ids, k=3).json()
        assert body["fallback"] == {"kind": "popularity", "reason": "empty_session"}
        assert len(body["items"]) == 3 and body["session"]["events_used"] == 0


def test_only_the_latest_max_history_events_are_used_and_the_answer_says_so(knn):
    old = ["i2", "i6", "i10"]
    latest = ["i1", "i5", "i9", "i13", "i17"]
    body = _session(knn, item_ids=old + latest, k=5, exclude_seen=False).json()
    assert (body["session"]["events_used"], body["session"]["left_out"]) == (5, 3)
    assert _ids(body) == _ids(_session(knn, item_ids=latest, k=5, exclude_seen=False).json())


def test_timestamps_put_the_events_in_time_order(knn):
    start = datetime(2026, 3, 1, tzinfo=UTC)
    ordered = ["i2", "i6", "i1", "i5"]
    stamps = [(start + timedelta(minutes=n)).isoformat() for n in range(4)]
    shuffled = [2, 0, 3, 1]
    body = _session(knn, item_ids=[ordered[n] for n in shuffled], timestamps=[stamps[n] for n in shuffled],
                    event_types=["view"] * 4, k=5).json()  # fmt: skip
    assert body["items"] == _session(knn, item_ids=ordered, k=5).json()["items"]
    mismatch = _session(knn, item_ids=ordered, timestamps=stamps[:2])
    assert mismatch.status_code == 400 and "timestamps" in mismatch.json()["error"]["details"]


def test_session_honours_exclusions_categories_and_inactive_items(knn, settings):
    settings.PLATFORM = {**settings.PLATFORM, "LOCAL_CACHE_SECONDS": 0}
    Item.objects.bulk_create(
        [Item(tenant=knn.tenant, item_id=f"i{n}", categories=["even" if n % 2 == 0 else "odd"]) for n in range(60)]
    )
    session = ["i1", "i5", "i9"]
    top = _ids(_session(knn, item_ids=session, k=3).json())
    assert top[0] not in _ids(_session(knn, item_ids=session, k=3, exclude=[top[0]]).json())
    assert all(int(item[1:]) % 2 == 0 for item in _ids(_session(knn, item_ids=session, k=5, category=["even"]).json()))
    Item.objects.filter(tenant=knn.tenant, item_id=top[0]).update(is_active=False)
    assert top[0] not in _ids(_session(knn, item_ids=session, k=20).json())


def test_order_free_models_answer_sessions_too(served):
    body = _session(served, slug="recs", item_ids=["i1", "i5", "nope"], k=4).json()
    assert body["fallback"] is None and body["session"]["unknown_items"] == 1
    assert sum(int(item[1:]) % 4 == 1 for item in _ids(body)) >= 3


def test_known_user_is_served_from_latest_events_including_ones_after_training(knn):
    def recommend():
        return knn.client.get("/api/v1/models/knn/recommendations", {"user_id": "u1", "k": 5}).json()

    before = recommend()
    assert before["fallback"] is None
    assert before["history"] == {"events_used": 5, "unknown_items": 0, "left_out": 3, "max_history": 5}
    # u1 (taste group 1) now looks at group 2 items: the latest events lead.
    later = datetime(2027, 1, 1, tzinfo=UTC)
    Interaction.objects.bulk_create([
        Interaction(tenant=knn.tenant, dataset=knn.dataset, user_id="u1", item_id=f"i{n}",
                    timestamp=later + timedelta(minutes=n)) for n in (2, 6, 10, 14, 18)
    ])  # fmt: skip
    after = recommend()
    assert after["history"] == {"events_used": 5, "unknown_items": 0, "left_out": 8, "max_history": 5}
    assert sum(int(item[1:]) % 4 == 2 for item in _ids(after)) >= 3
    assert not {"i2", "i6", "i10", "i14", "i18"} & set(_ids(after))


def test_rank_follows_the_latest_events_of_a_sequence_model(knn):
    candidates = [f"i{n}" for n in range(21, 45) if n % 4 in (1, 2)]  # 6 of taste group 1, 6 of group 2

    def top_half_in_group(group):
        body = {"user_id": "u1", "item_ids": candidates}
        ranked = _ids(knn.client.post("/api/v1/models/knn/rank", body, format="json").json())
        return sum(int(item[1:]) % 4 == group for item in ranked[:6])

    assert top_half_in_group(1) >= 4  # u1's taste group
    later = datetime(2027, 1, 1, tzinfo=UTC)
    Interaction.objects.bulk_create([
        Interaction(tenant=knn.tenant, dataset=knn.dataset, user_id="u1", item_id=f"i{n}",
                    timestamp=later + timedelta(minutes=n)) for n in (2, 6, 10, 14, 18)
    ])  # fmt: skip
    assert top_half_in_group(2) >= 4


def test_a_user_unknown_to_the_model_is_served_from_events_sent_after_training(knn):
    Interaction.objects.bulk_create(
        [Interaction(tenant=knn.tenant, dataset=knn.dataset, user_id="newbie", item_id=f"i{n}") for n in (3, 7, 11)]
    )
    body = knn.client.get("/api/v1/models/knn/recommendations", {"user_id": "newbie", "k": 4}).json()
    assert body["fallback"] is None and body["history"]["events_used"] == 3
    assert sum(int(item[1:]) % 4 == 3 for item in _ids(body)) >= 3


def test_sasrec_is_trained_deployed_and_served_in_numpy(tenant_a, django_capture_on_commit_callbacks):
    params = {"epochs": 1, "max_history": 6, "embedding_dim": 8, "heads": 1, "blocks": 1, "batch_size": 16}
    train_model(tenant_a, django_capture_on_commit_callbacks, slug="seq", recipe="sasrec", params=params)
    body = tenant_a.client.get("/api/v1/models/seq/recommendations", {"user_id": "u1", "k": 3}).json()
    assert body["fallback"] is None and len(body["items"]) == 3
    assert body["history"]["events_used"] == 6 and body["history"]["max_history"] == 6
    session = _session(tenant_a, slug="seq", item_ids=["i1", "ghost"], k=3).json()
    assert session["session"]["events_used"] == 1 and session["session"]["unknown_items"] == 1


def test_other_tenants_model_is_404_for_sessions(knn, tenant_b):
    assert _session(tenant_b, item_ids=["i1"]).status_code == 404


def test_batch_of_anonymous_sessions(knn, django_capture_on_commit_callbacks):
    import csv
    import io
    import json

    sessions = [{"session_id": "s1", "item_ids": ["i1", "i5"]}, {"session_id": "=s2", "item_ids": ["ghost"]}]
    for file_format in ("csv", "jsonl"):
        with django_capture_on_commit_callbacks(execute=True):
            body = {"sessions": sessions, "k": 2, "format": file_format}
            job = knn.client.post("/api/v1/models/knn/batch-recommendations", body, format="json").json()
        status = knn.client.get(f"/api/v1/batch-jobs/{job['id']}").json()
        assert status["status"] == "succeeded" and status["users_total"] == 2
        text = b"".join(knn.client.get(status["download_url"]).streaming_content).decode()
        if file_format == "csv":
            rows = list(csv.DictReader(io.StringIO(text)))
            assert [row["session_id"] for row in rows] == ["s1", "s1", "'=s2", "'=s2"]
            assert [row["fallback"] for row in rows] == ["", "", "empty_session", "empty_session"]
            first = _session(knn, item_ids=["i1", "i5"], k=2).json()
            assert [row["item_id"] for row in rows[:2]] == _ids(first)
        else:
            records = [json.loads(line) for line in text.splitlines()]
            assert [record["session_id"] for record in records] == ["s1", "=s2"]
            assert records[1]["session"]["unknown_items"] == 1 and records[1]["fallback"] == "empty_session"
    both = knn.client.post("/api/v1/models/knn/batch-recommendations",
                           {"sessions": sessions, "user_ids": ["u1"]}, format="json")  # fmt: skip
    assert both.status_code == 400 and "sessions" in both.json()["error"]["details"]


def test_event_types_and_times_reach_a_sasrec_trained_to_read_them(tenant_a, django_capture_on_commit_callbacks):
    from recommender.serving.loader import served_model

    dataset = make_interactions_dataset(tenant_a.tenant)
    Interaction.objects.filter(tenant=tenant_a.tenant, user_id__in=["u1", "u2", "u3"]).update(event_type="purchase")
    params = {"epochs": 1, "max_history": 6, "embedding_dim": 8, "heads": 1, "blocks": 1, "batch_size": 16,
              "event_types": True, "time_gaps": True}  # fmt: skip
    train_model(tenant_a, django_capture_on_commit_callbacks, slug="ctx", recipe="sasrec", dataset=dataset,
                params=params)  # fmt: skip
    scorer = served_model(tenant_a.tenant, "ctx").scorer
    assert scorer.reads_context and set(scorer.event_vocabulary) == {"view", "purchase"}
    # Given in any order with their times: sorted, then each event's type and gap feed the model.
    body = {"item_ids": ["i5", "i1", "i9"], "event_types": ["purchase", "view", "view"], "k": 5,
            "timestamps": ["2026-03-01T10:05:00Z", "2026-03-01T10:00:00Z", "2026-03-02T09:00:00Z"]}  # fmt: skip
    answer = _session(tenant_a, slug="ctx", **body).json()
    times = [datetime(2026, 3, 1, 10, 0, tzinfo=UTC), datetime(2026, 3, 1, 10, 5, tzinfo=UTC),
             datetime(2026, 3, 2, 9, 0, tzinfo=UTC)]  # fmt: skip
    expected = scorer.recommend_session(
        ["i1", "i5", "i9"], 5, event_types=["view", "purchase", "view"], timestamps=[t.timestamp() for t in times]
    )
    assert [(entry["item_id"], entry["score"]) for entry in answer["items"]] == [
        (item, round(score, 6)) for item, score in expected.items
    ]
    plain = _session(tenant_a, slug="ctx", item_ids=["i1", "i5", "i9"], k=5).json()
    assert [entry["score"] for entry in plain["items"]] != [entry["score"] for entry in answer["items"]]
    # A known user is served from their latest events with their types and times.
    mine = tenant_a.client.get("/api/v1/models/ctx/recommendations", {"user_id": "u1", "k": 4}).json()
    latest = Interaction.objects.filter(tenant=tenant_a.tenant, user_id="u1").order_by("timestamp", "id")
    rows = list(latest.values_list("item_id", "event_type", "timestamp"))
    expected = scorer.recommend_session([r[0] for r in rows[-6:]], 4, event_types=[r[1] for r in rows[-6:]],
                                        timestamps=[r[2].timestamp() for r in rows[-6:]],
                                        exclude_item_ids=[r[0] for r in rows])  # fmt: skip
    assert [entry["item_id"] for entry in mine["items"]] == [item for item, _ in expected.items]
    assert mine["history"]["events_used"] == 6
