"""A tenant with a trained, deployed model to serve from."""

import pytest

from recommender.serving.loader import forget_all
from recommender.training.models import TrainingRun

from ..factories import make_interactions_dataset


@pytest.fixture(autouse=True)
def _empty_serving_cache():
    forget_all()
    yield
    forget_all()


def train_model(world, django_capture_on_commit_callbacks, slug="recs", recipe="ease", dataset=None, **config):
    dataset = dataset or make_interactions_dataset(world.tenant)
    body = {"name": slug, "slug": slug, "dataset": dataset.pk, "recipe": recipe, **config}
    assert world.client.post("/api/v1/models", body, format="json").status_code == 201
    with django_capture_on_commit_callbacks(execute=True):
        run_id = world.client.post(f"/api/v1/models/{slug}/train", {}, format="json").json()["id"]
    run = TrainingRun.objects.for_tenant(world.tenant).get(pk=run_id)
    assert run.status == "succeeded", run.error
    return dataset


@pytest.fixture
def served(tenant_a, django_capture_on_commit_callbacks):
    """Tenant A with an EASE model 'recs' deployed (version 1)."""
    tenant_a.dataset = train_model(tenant_a, django_capture_on_commit_callbacks)
    return tenant_a
