"""One auto-deploy default everywhere, and deploying a worse version is said before (portal) and after (API)."""

import pytest
from django.urls import reverse

from recommender.training.models import ModelConfig, ModelVersion

from ..portal.conftest import signed_in
from ..serving.conftest import train_model

pytestmark = pytest.mark.django_db


def test_the_portal_and_the_api_create_models_with_the_same_auto_deploy_default(tenant_a):
    form = signed_in(tenant_a.owner, tenant_a.tenant).get(reverse("portal:model_create")).context["form"]
    default = ModelConfig._meta.get_field("auto_deploy").default
    assert form["auto_deploy"].value() == default == "if_better"


@pytest.fixture
def two_versions(tenant_a, django_capture_on_commit_callbacks):
    """Model 'recs' serving v1, and a v2 (same artifact) whose ndcg@10 is lower."""
    train_model(tenant_a, django_capture_on_commit_callbacks, recipe="popularity")
    v1 = ModelVersion.objects.get(config__slug="recs", tenant=tenant_a.tenant)
    metrics = {**v1.metrics, "metrics": {**v1.metrics["metrics"], "ndcg@10": v1.metrics["metrics"]["ndcg@10"] / 2}}
    v2 = ModelVersion.objects.create(
        tenant=v1.tenant, config=v1.config, number=2, recipe=v1.recipe, params=v1.params, metrics=metrics,
        data_snapshot=v1.data_snapshot, artifact_path=v1.artifact_path,
    )  # fmt: skip
    return tenant_a, v1, v2


def test_the_api_says_when_the_deployed_version_is_worse(two_versions):
    world, v1, v2 = two_versions
    answer = world.client.post("/api/v1/models/recs/versions/2/deploy").json()
    assert answer["is_deployed"] is True
    assert answer["warning"].startswith("v2 is worse than v1, which serves now, on ndcg@10:")
    back = world.client.post("/api/v1/models/recs/versions/1/deploy").json()
    assert back["warning"] is None


def test_the_portal_asks_before_deploying_a_worse_version(two_versions):
    world, v1, v2 = two_versions
    client = signed_in(world.owner, world.tenant)
    page = client.get(reverse("portal:model", args=["recs"])).content.decode()
    assert 'data-confirm="v2 is worse than v1, which serves now, on ndcg@10:' in page
    assert "Deploy it anyway?" in page
    response = client.post(reverse("portal:model_deploy", args=["recs", 2]), follow=True)
    assert "v2 is worse than v1" in response.content.decode()
    # v1, better, is deployed back without a question.
    page = client.get(reverse("portal:model", args=["recs"])).content.decode()
    assert 'data-confirm="v1' not in page
