"""Guardrails: an arm whose errors or latency degrade against the control is stopped, its users go to the control."""

import time

from recommender.feedback import serving as feedback_serving
from recommender.feedback.models import Experiment, ExperimentArm
from recommender.serving.loader import forget_all
from recommender.training.models import ModelVersion
from tenants.models import AuditLog

from .conftest import settle
from .test_experiments import AB, _slot, _start, two_versions  # noqa: F401  (the fixture)

GUARDED = {"max_error_rate_increase": 0.05, "max_latency_increase": 0.5, "guardrail_min_requests": 20}


def _start_guarded(world, guardrails=GUARDED):
    body = {"name": "guarded", "model": "recs", "arms": AB, "guardrails": guardrails}
    response = world.client.post("/api/v1/experiments", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def _challenger_version_id(world):
    return ModelVersion.objects.get(tenant=world.tenant, config__slug="recs", number=2).pk


def _inject(monkeypatch, version_id, make):
    """Serve the challenger's version through ``make(scorer)``: a fault injected where an arm's model loads."""
    real = feedback_serving.version_scorer
    monkeypatch.setattr(
        feedback_serving,
        "version_scorer",
        lambda found_id, path, **options: (
            make(real(found_id, path, **options)) if found_id == version_id else real(found_id, path, **options)
        ),
    )


def _ask(world, users):
    return {user: world.client.get("/api/v1/models/recs/recommendations", {"user_id": user}) for user in users}


def test_an_arm_that_fails_is_stopped_and_its_users_go_to_the_control(two_versions, monkeypatch):  # noqa: F811
    world = two_versions
    experiment = _start_guarded(world)
    assert experiment["guardrails"] == GUARDED

    def broken(scorer):
        raise OSError("the artifact of version 2 is unreadable")

    _inject(monkeypatch, _challenger_version_id(world), broken)
    world.client.raise_request_exception = False
    users = [f"g{n}" for n in range(90)]
    answers = _ask(world, users)
    challengers = [user for user in users if _slot(experiment["salt"], user) >= 50]
    assert len(challengers) >= 25
    assert all(answers[user].status_code == 500 for user in challengers)
    assert all(answers[user].status_code == 200 for user in users if user not in challengers)

    settle()
    shown = world.client.get(f"/api/v1/experiments/{experiment['id']}").json()
    arms = {arm["name"]: arm for arm in shown["arms"]}
    assert shown["status"] == "running"
    assert arms["control"]["stopped_at"] is None
    assert arms["challenger"]["stopped_at"] is not None
    assert arms["challenger"]["stop_reason"].startswith("Guardrail: error rate 100.00%")
    audit = AuditLog.objects.get(tenant=world.tenant, action="experiment.arm_stopped")
    assert audit.details["arm"] == "challenger" and "error rate" in audit.details["reason"]

    results = world.client.get(f"/api/v1/experiments/{experiment['id']}/results").json()
    by_name = {arm["name"]: arm for arm in results["arms"]}
    assert by_name["challenger"]["health"]["errors"] == len(challengers)
    assert by_name["control"]["health"]["errors"] == 0
    assert results["decision"]["winner"] == "control"
    assert "guardrail" in results["decision"]["reason"]
    # Failed requests are not impressions: nothing was shown.
    assert by_name["challenger"]["impressions"] == 0

    forget_all()  # as every process does within LOCAL_CACHE_SECONDS
    again = _ask(world, challengers[:8])
    assert all(response.status_code == 200 for response in again.values())
    assert {response.json()["version"] for response in again.values()} == {1}
    # The users moved after the stop do not make the sample-ratio check cry wolf.
    settle()
    assert Experiment.objects.unscoped().get(pk=experiment["id"]).srm_alert is False


def test_a_slower_arm_is_stopped_and_a_healthy_one_is_not(two_versions, monkeypatch):  # noqa: F811
    world = two_versions
    # The healthy run judges errors only: this machine's timing noise must not decide a test.
    healthy = _start_guarded(world, {**GUARDED, "max_latency_increase": None})
    _ask(world, [f"h{n}" for n in range(60)])
    settle()
    assert not ExperimentArm.objects.unscoped().filter(experiment_id=healthy["id"]).exclude(stopped_at=None).exists()
    assert world.client.post(f"/api/v1/experiments/{healthy['id']}/stop").status_code == 200
    forget_all()

    class Slow:
        """The challenger's model, answering 100 ms late (a degraded version)."""

        def __init__(self, scorer):
            self._scorer = scorer

        def __getattr__(self, name):
            return getattr(self._scorer, name)

        def recommend(self, *args, **kwargs):
            time.sleep(0.1)
            return self._scorer.recommend(*args, **kwargs)

    _inject(monkeypatch, _challenger_version_id(world), Slow)
    slow = _start_guarded(world, {**GUARDED, "max_error_rate_increase": None})
    _ask(world, [f"l{n}" for n in range(60)])
    settle()
    arm = ExperimentArm.objects.unscoped().get(experiment_id=slow["id"], name="challenger")
    assert arm.stopped_at is not None and "p95 latency" in arm.stop_reason


def test_guardrails_are_validated_and_can_be_switched_off(two_versions):  # noqa: F811
    world = two_versions
    body = {"name": "bad", "model": "recs", "arms": AB, "guardrails": {"guardrail_min_requests": 3}}
    refused = world.client.post("/api/v1/experiments", body, format="json")
    assert refused.status_code == 400
    assert "guardrail_min_requests" in refused.json()["error"]["details"]["guardrails"]
    off = {"max_error_rate_increase": None, "max_latency_increase": None}
    started = _start_guarded(world, off)
    assert started["guardrails"] == {**off, "guardrail_min_requests": 200}
    assert world.client.post(f"/api/v1/experiments/{started['id']}/stop").status_code == 200
    plain = _start(world, AB).json()
    assert plain["guardrails"] == {
        "max_error_rate_increase": 0.01, "max_latency_increase": 0.5, "guardrail_min_requests": 200,
    }  # fmt: skip
