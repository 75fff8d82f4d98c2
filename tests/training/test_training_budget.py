"""The plan's training budget: a hand-picked recipe that cannot fit it is refused before training, naming
what fits; a run that goes over its time limit mid-run fails saying what would fit (issue 15, "bad input
and limits")."""

import pytest
from celery.exceptions import SoftTimeLimitExceeded

from recommender import ml
from recommender.training.models import TrainingRun
from tenants.models import Plan
from tenants.selectors import forget_cached_key

from ..factories import make_interactions_dataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def neural(tenant_a):
    dataset = make_interactions_dataset(tenant_a.tenant)
    body = {"name": "nn", "slug": "nn", "dataset": dataset.pk, "recipe": "neumf", "params": {"epochs": 20}}
    created = tenant_a.client.post("/api/v1/models", body, format="json")
    assert created.status_code == 201, created.json()
    return tenant_a


def _on_time_limit(world, seconds):
    world.tenant.plan = Plan.objects.create(name=f"{seconds} s runs", training_time_limit_seconds=seconds)
    world.tenant.save()
    forget_cached_key()  # the key's tenant and plan are cached for a second


def test_a_recipe_over_the_plans_time_limit_is_refused_before_training_naming_what_fits(neural):
    _on_time_limit(neural, 10)  # neumf is estimated at about 30 s even on tiny data
    refused = neural.client.post("/api/v1/models/nn/train", {}, format="json")
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "recipe_too_large"
    assert (
        "neumf cannot train on this dataset: it would train for about 30 s; the time limit is 10 s" in error["message"]
    )
    assert "ease" in error["details"]["fitting_recipes"] and "neumf" not in error["details"]["fitting_recipes"]
    assert not TrainingRun.objects.filter(tenant=neural.tenant).exists()


def test_a_run_over_its_time_limit_mid_run_fails_saying_what_would_fit(
    neural, monkeypatch, django_capture_on_commit_callbacks
):
    _on_time_limit(neural, 60)

    def evaluate(*args, callbacks, **kwargs):
        return None  # evaluation done; the time runs out while training on all the data

    def train(*args, callbacks, **kwargs):
        callbacks.on_epoch(10, 20, {"loss": 0.5})
        raise SoftTimeLimitExceeded()  # what Celery raises in the task at the plan's soft time limit

    monkeypatch.setattr(ml, "evaluate", evaluate)
    monkeypatch.setattr(ml, "train", train)
    with django_capture_on_commit_callbacks(execute=True):
        started = neural.client.post("/api/v1/models/nn/train", {}, format="json")
    assert started.status_code == 202, started.json()
    run = neural.client.get(f"/api/v1/runs/{started.json()['id']}").json()

    assert run["status"] == "failed"
    error = run["error"]
    assert error.startswith("Training took longer than your plan's limit of 60 s while training (epoch 10 of 20)")
    # Three quarters of the work (evaluation, then half of the final training) fit: 15 epochs, less a fifth.
    assert "epochs=12 (of 20) would fit at the pace this run went" in error
    assert "ease" in error and "popularity" in error and "estimated to train this data in under half" in error
