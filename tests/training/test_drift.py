"""Retraining on drift: "after N new events or X% new items", per model, run by a periodic check, within quotas."""

import pytest

from recommender.training.models import ModelConfig, TrainingRun
from recommender.training.services.runs import retrain_on_drift
from tenants.models import AuditLog

from ..serving.conftest import train_model


def _events(users, items, offset=0):
    return [{"user_id": f"d{offset + n}", "item_id": items[n % len(items)], "event_type": "view"} for n in range(users)]


def _send(world, events):
    response = world.client.post("/api/v1/events", {"events": events}, format="json")
    assert response.status_code == 200 and response.json()["accepted"] == len(events), response.content


@pytest.fixture
def streamed(tenant_a, django_capture_on_commit_callbacks):
    """Tenant A with 'recs' trained on its event stream: 60 events over 20 items, version 1."""
    history = [{"user_id": f"h{user}", "item_id": f"i{(3 * user + step) % 20}", "event_type": "view"}
               for user in range(10) for step in range(6)]  # fmt: skip
    _send(tenant_a, history)
    stream = next(d for d in tenant_a.client.get("/api/v1/datasets").json()["results"] if d["is_event_stream"])
    tenant_a.dataset = type("Ref", (), {"pk": stream["id"]})
    train_model(tenant_a, django_capture_on_commit_callbacks, dataset=tenant_a.dataset)
    return tenant_a


def _policy(world, **policy):
    response = world.client.patch("/api/v1/models/recs", policy, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_the_policy_is_set_and_checked_naming_the_field(streamed, tenant_b):
    shown = _policy(streamed, retrain_after_events=50, retrain_after_new_items_percent=10)
    assert (shown["retrain_after_events"], shown["retrain_after_new_items_percent"]) == (50, 10.0)
    bad = streamed.client.patch("/api/v1/models/recs", {"retrain_after_events": 0}, format="json")
    assert bad.status_code == 400 and "retrain_after_events" in bad.json()["error"]["details"]
    assert tenant_b.client.patch("/api/v1/models/recs", {"retrain_after_events": 5}, format="json").status_code == 404
    off = _policy(streamed, retrain_after_events=None, retrain_after_new_items_percent=None)
    assert off["retrain_after_events"] is None and off["retrain_after_new_items_percent"] is None


def test_a_model_retrains_after_n_new_events_and_not_before(streamed, django_capture_on_commit_callbacks):
    _policy(streamed, retrain_after_events=30)
    assert retrain_on_drift() == {"started": [], "refused": []}, "no policy is met by the training data itself"
    _send(streamed, _events(20, ["i1", "i2"], offset=100))
    assert retrain_on_drift()["started"] == []
    _send(streamed, _events(10, ["i3"], offset=200))
    with django_capture_on_commit_callbacks(execute=True):
        started = retrain_on_drift()["started"]
    assert len(started) == 1
    run = TrainingRun.objects.for_tenant(streamed.tenant).get(pk=started[0])
    assert run.trigger == "drift" and run.status == "succeeded", run.error
    audit = AuditLog.objects.get(tenant=streamed.tenant, action="model.drift_retrain")
    assert audit.details["new_events"] == 30 and audit.details["since_version"] == 1
    versions = streamed.client.get("/api/v1/models/recs/versions").json()["results"]
    assert {version["number"] for version in versions} == {1, 2}
    assert retrain_on_drift()["started"] == [], "version 2 has seen those events"


def test_a_model_retrains_when_new_items_reach_the_percent(streamed, django_capture_on_commit_callbacks):
    _policy(streamed, retrain_after_new_items_percent=10)
    _send(streamed, _events(30, ["i1", "i2", "i3"], offset=100))  # known items only: no new item
    assert retrain_on_drift()["started"] == []
    _send(streamed, _events(1, ["brand-new-1"], offset=300))  # 1 of 20: 5%
    assert retrain_on_drift()["started"] == []
    _send(streamed, _events(1, ["brand-new-2"], offset=301))  # 2 of 20: 10%
    with django_capture_on_commit_callbacks(execute=True):
        assert len(retrain_on_drift()["started"]) == 1
    audit = AuditLog.objects.get(tenant=streamed.tenant, action="model.drift_retrain")
    assert audit.details["new_items"] == 2 and audit.details["known_items"] == 20


def test_drift_retraining_stays_within_the_plans_daily_runs(streamed):
    plan = streamed.tenant.plan
    plan.max_training_runs_per_day = TrainingRun.objects.filter(tenant=streamed.tenant).count()
    plan.save()
    _policy(streamed, retrain_after_events=5)
    _send(streamed, _events(5, ["i1"], offset=100))
    assert retrain_on_drift() == {"started": [], "refused": [ModelConfig.objects.get(tenant=streamed.tenant).pk]}
    assert TrainingRun.objects.filter(tenant=streamed.tenant, trigger="drift").count() == 0
