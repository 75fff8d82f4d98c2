"""Experiments between versions: refusals, sticky assignment, results, promotion and the sample-ratio alert."""

import hashlib
import random

import pytest

from recommender.feedback.models import Experiment
from recommender.serving.loader import forget_all
from tenants.models import AuditLog

from ..serving.conftest import train_model
from .conftest import settle


@pytest.fixture
def two_versions(served, django_capture_on_commit_callbacks):
    """'recs' with versions 1 and 2 (1 deployed), and a second model 'other'."""
    with django_capture_on_commit_callbacks(execute=True):
        assert served.client.post("/api/v1/models/recs/train", {}, format="json").status_code == 202
    train_model(served, django_capture_on_commit_callbacks, slug="other", dataset=served.dataset)
    served.client.post("/api/v1/models/recs/versions/1/deploy", {}, format="json")
    return served


def _start(world, arms, model="recs", name="v2 against v1"):
    return world.client.post("/api/v1/experiments", {"name": name, "model": model, "arms": arms}, format="json")


AB = [
    {"name": "control", "version": 1, "split": 50, "control": True},
    {"name": "challenger", "version": 2, "split": 50},
]


def _slot(salt, user_id):
    """The documented assignment, computed here independently of the platform's code."""
    return int(hashlib.sha256(f"{salt}:{user_id}".encode()).hexdigest()[:15], 16) % 100


def test_bad_experiments_are_refused_naming_the_field(two_versions, tenant_b):
    world = two_versions
    short = [{**AB[0], "split": 50}, {**AB[1], "split": 40}]
    response = _start(world, short)
    assert response.status_code == 400 and "arms" in response.json()["error"]["details"]
    assert "sum to 90%" in str(response.json()["error"]["details"]["arms"])
    missing = _start(world, [AB[0], {**AB[1], "version": 7}])
    assert missing.status_code == 400
    assert missing.json()["error"]["details"]["arms"][1]["version"] == ["Model 'recs' has no version 7."]
    no_control = _start(world, [{**AB[0], "control": False}, AB[1]])
    assert no_control.status_code == 400 and "control" in str(no_control.json()["error"]["details"]["arms"])
    assert _start(world, AB, model="nope").json()["error"]["details"]["model"] == ["No model 'nope'."]

    started = _start(world, AB)
    assert started.status_code == 201, started.content
    overlapping = _start(world, [{**AB[0], "model": "other", "version": 1}, AB[1]], name="again")
    assert overlapping.status_code == 400
    assert "already runs on model 'recs'" in overlapping.json()["error"]["details"]["model"][0]
    experiment_id = started.json()["id"]
    resplit = world.client.patch(f"/api/v1/experiments/{experiment_id}", {"arms": [50, 50]}, format="json")
    assert resplit.status_code == 400 and "arms" in resplit.json()["error"]["details"]
    assert tenant_b.client.get(f"/api/v1/experiments/{experiment_id}").status_code == 404
    assert tenant_b.client.post(f"/api/v1/experiments/{experiment_id}/stop").status_code == 404


def test_users_keep_their_arm_and_the_assignment_can_be_reproduced(two_versions):
    world = two_versions
    experiment = _start(world, AB).json()
    expected = {}
    for user in range(30):
        user_id = f"u{user}"
        expected[user_id] = 1 if _slot(experiment["salt"], user_id) < 50 else 2
    for _ in range(2):  # asked twice: the same arm
        for user_id, version in expected.items():
            answer = world.client.get("/api/v1/models/recs/recommendations", {"user_id": user_id}).json()
            assert answer["version"] == version, user_id
    assert set(expected.values()) == {1, 2}
    # Similar items have no user: the deployed version answers them.
    assert world.client.get("/api/v1/models/recs/similar-items", {"item_id": "i1"}).json()["version"] == 1
    assert world.client.post(f"/api/v1/experiments/{experiment['id']}/stop").status_code == 200
    forget_all()  # as every process does within LOCAL_CACHE_SECONDS
    assert all(
        world.client.get("/api/v1/models/recs/recommendations", {"user_id": user_id}).json()["version"] == 1
        for user_id in list(expected)[:6]
    ), "a stopped experiment no longer routes"


def _run_traffic(world, users, click_rate, skip=lambda user_id: False, seed=3):
    """Each user asks once and clicks the first item with the probability of the version that answered."""
    rng = random.Random(seed)
    events = []
    for user_id in users:
        if skip(user_id):
            continue
        answer = world.client.get("/api/v1/models/recs/recommendations", {"user_id": user_id, "k": 3}).json()
        if rng.random() < click_rate[answer["version"]]:
            item = answer["items"][0]["item_id"]
            events.append({"user_id": user_id, "item_id": item, "event_type": "click",
                           "recommendation_id": answer["recommendation_id"]})  # fmt: skip
    if events:
        assert world.client.post("/api/v1/events", {"events": events}, format="json").status_code == 200
    settle()


def test_the_better_version_wins_by_the_sequential_test_and_promoting_it_deploys_it(two_versions):
    world = two_versions
    experiment = _start(world, AB).json()
    _run_traffic(world, [f"s{n}" for n in range(400)], {1: 0.1, 2: 0.6})
    results = world.client.get(f"/api/v1/experiments/{experiment['id']}/results").json()
    arms = {arm["name"]: arm for arm in results["arms"]}
    assert arms["control"]["impressions"] + arms["challenger"]["impressions"] == 400
    versus = arms["challenger"]["versus_control"]
    assert versus["difference"] > 0.3
    assert versus["fixed_horizon"]["p_value"] < 0.001 and versus["fixed_horizon"]["ci"][0] > 0
    assert versus["sequential"]["significant"] and versus["sequential"]["always_valid_p"] < 0.05
    assert results["decision"]["winner"] == "challenger"
    assert results["decision"]["statistic"].startswith("sequential")
    assert results["sample_ratio"]["alert"] is False

    promoted = world.client.post(f"/api/v1/experiments/{experiment['id']}/promote")
    assert promoted.status_code == 200, promoted.content
    assert promoted.json()["status"] == "stopped" and promoted.json()["promoted_arm"] == "challenger"
    model = world.client.get("/api/v1/models/recs").json()
    assert model["deployment"]["version"] == 2
    assert AuditLog.objects.filter(tenant=world.tenant, action="experiment.promoted").exists()
    assert world.client.post(f"/api/v1/experiments/{experiment['id']}/stop").status_code == 409


def test_no_winner_is_promoted_while_the_arms_do_not_differ(two_versions):
    world = two_versions
    experiment = _start(world, AB).json()
    _run_traffic(world, [f"s{n}" for n in range(120)], {1: 0.3, 2: 0.3})
    results = world.client.get(f"/api/v1/experiments/{experiment['id']}/results").json()
    assert results["decision"]["winner"] is None
    refused = world.client.post(f"/api/v1/experiments/{experiment['id']}/promote")
    assert refused.status_code == 409 and "No winner yet" in refused.json()["error"]["message"]


def test_the_sample_ratio_alert_fires_when_one_arm_loses_users(two_versions):
    world = two_versions
    experiment = _start(world, AB).json()
    salt = experiment["salt"]
    # A client-side cache answers two thirds of the challenger's users itself: they never reach us.
    dropped = lambda user_id: _slot(salt, user_id) >= 50 and int(user_id[1:]) % 3 != 0  # noqa: E731
    _run_traffic(world, [f"s{n}" for n in range(300)], {1: 0.1, 2: 0.1}, skip=dropped)
    found = Experiment.objects.unscoped().get(pk=experiment["id"])
    assert found.srm_alert and found.srm_p_value < 0.001
    shown = world.client.get(f"/api/v1/experiments/{experiment['id']}").json()
    assert shown["srm_alert"] is True
    assert AuditLog.objects.filter(tenant=world.tenant, action="experiment.srm_alert").count() == 1
