"""Model configs, training, versions and deployments through the API (tasks run in-process)."""

import pytest

from recommender import ml
from recommender.training.models import Deployment, ModelConfig, ModelVersion
from tenants.models import AuditLog, Plan

from ..factories import make_interactions_dataset

pytestmark = pytest.mark.django_db

FAST_NEUMF = {"epochs": 2, "gmf_dim": 8, "mlp_dim": 8, "mlp_layers": [16, 8], "batch_size": 256}


@pytest.fixture
def dataset(tenant_a):
    return make_interactions_dataset(tenant_a.tenant)


def _create(client, dataset, **body):
    return client.post("/api/v1/models", {"name": "Shop recs", "dataset": dataset.pk, **body}, format="json")


def _train(client, slug, django_capture_on_commit_callbacks, **body):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/v1/models/{slug}/train", body, format="json")
    assert response.status_code == 202, response.json()
    return client.get(f"/api/v1/runs/{response.json()['id']}").json()


def test_recipe_defaults_to_the_platforms_best_and_first_version_deploys(
    tenant_a, dataset, django_capture_on_commit_callbacks
):
    created = _create(tenant_a.client, dataset)
    assert created.status_code == 201, created.json()
    assert created.json()["recipe"] == ml.DEFAULT_RECOMMENDATION_RECIPE
    assert created.json()["slug"] == "shop-recs"
    assert created.json()["params"]  # defaults filled in from the recipe's declaration

    run = _train(tenant_a.client, "shop-recs", django_capture_on_commit_callbacks)
    assert run["status"] == "succeeded", run["error"]
    assert run["progress"] == 1.0 and run["version"] == 1
    assert "first version" in run["deploy_decision"]
    assert "ndcg@10" in run["metrics"]["metrics"] and "ndcg@10" in run["metrics"]["baseline"]

    model = tenant_a.client.get("/api/v1/models/shop-recs").json()
    assert model["deployment"]["version"] == 1
    versions = tenant_a.client.get("/api/v1/models/shop-recs/versions").json()["results"]
    assert versions[0]["number"] == 1 and versions[0]["is_deployed"]
    assert versions[0]["data_snapshot"]["rows"] == dataset.interactions.count()


def test_epochs_are_reported_with_loss(tenant_a, dataset, django_capture_on_commit_callbacks):
    _create(tenant_a.client, dataset, recipe="neumf", params=FAST_NEUMF)
    run = _train(tenant_a.client, "shop-recs", django_capture_on_commit_callbacks)
    assert run["status"] == "succeeded", run["error"]
    training_epochs = [entry for entry in run["history"] if entry["stage"] == "training"]
    assert [entry["epoch"] for entry in training_epochs] == [1, 2]
    assert all(entry["loss"] > 0 for entry in training_epochs)
    assert run["total_epochs"] == 2


def test_deploy_and_roll_back_are_audited(tenant_a, dataset, django_capture_on_commit_callbacks):
    _create(tenant_a.client, dataset, recipe="popularity", auto_deploy="always")
    _train(tenant_a.client, "shop-recs", django_capture_on_commit_callbacks)
    _train(tenant_a.client, "shop-recs", django_capture_on_commit_callbacks)
    assert tenant_a.client.get("/api/v1/models/shop-recs").json()["deployment"]["version"] == 2

    rolled_back = tenant_a.client.post("/api/v1/models/shop-recs/versions/1/deploy")
    assert rolled_back.status_code == 200 and rolled_back.json()["is_deployed"]
    assert tenant_a.client.get("/api/v1/models/shop-recs").json()["deployment"]["version"] == 1
    assert AuditLog.objects.filter(tenant=tenant_a.tenant, action="model.rolled_back").exists()
    assert tenant_a.client.post("/api/v1/models/shop-recs/versions/9/deploy").status_code == 404


def test_auto_deploy_never_keeps_the_active_version(tenant_a, dataset, django_capture_on_commit_callbacks):
    _create(tenant_a.client, dataset, recipe="popularity", auto_deploy="never")
    _train(tenant_a.client, "shop-recs", django_capture_on_commit_callbacks)
    second = _train(tenant_a.client, "shop-recs", django_capture_on_commit_callbacks)
    assert second["version"] == 2
    assert "auto-deploy is off" in second["deploy_decision"]
    assert Deployment.objects.unscoped().get(config__slug="shop-recs").version.number == 1


def test_auto_deploy_if_better_compares_the_chosen_metric_both_ways(
    tenant_a, dataset, django_capture_on_commit_callbacks
):
    _create(tenant_a.client, dataset, recipe="popularity", auto_deploy="if_better")
    _train(tenant_a.client, "shop-recs", django_capture_on_commit_callbacks)
    v1 = ModelVersion.objects.unscoped().get(config__slug="shop-recs", number=1)

    # A version trained on the same data scores the same: not better, so not deployed.
    same = _train(tenant_a.client, "shop-recs", django_capture_on_commit_callbacks)
    assert "not better" in same["deploy_decision"]
    assert Deployment.objects.unscoped().get(config__slug="shop-recs").version_id == v1.pk

    # Switch to a learned recipe, which beats popularity on planted taste: deployed.
    tenant_a.client.patch("/api/v1/models/shop-recs", {"recipe": "ease"}, format="json")
    better = _train(tenant_a.client, "shop-recs", django_capture_on_commit_callbacks)
    assert "better; deployed" in better["deploy_decision"], better["deploy_decision"]
    assert Deployment.objects.unscoped().get(config__slug="shop-recs").version.number == 3


def test_bad_params_name_the_field(tenant_a, dataset):
    response = _create(tenant_a.client, dataset, recipe="neumf", params={"epochs": 0})
    assert response.status_code == 400
    assert "params.epochs" in response.json()["error"]["details"]
    unknown = _create(tenant_a.client, dataset, recipe="no-such-recipe")
    assert "recipe" in unknown.json()["error"]["details"]


def test_prediction_recipe_refuses_an_interactions_dataset(tenant_a, dataset):
    response = _create(tenant_a.client, dataset, recipe="mlp_classifier")
    assert response.status_code == 400
    assert "tabular" in response.json()["error"]["details"]["dataset"][0]


def test_plan_quotas_for_models_and_daily_runs(tenant_a, dataset, django_capture_on_commit_callbacks):
    tenant_a.tenant.plan = Plan.objects.create(name="small", max_models=1, max_training_runs_per_day=1)
    tenant_a.tenant.save()
    assert _create(tenant_a.client, dataset, recipe="popularity").status_code == 201
    second = _create(tenant_a.client, dataset, name="Another")
    assert second.status_code == 429 and second.json()["error"]["code"] == "quota_exceeded"
    _train(tenant_a.client, "shop-recs", django_capture_on_commit_callbacks)
    refused = tenant_a.client.post("/api/v1/models/shop-recs/train", {}, format="json")
    assert refused.status_code == 429 and "1 training runs a day" in refused.json()["error"]["message"]


def test_cancelling_a_queued_run(tenant_a, dataset):
    _create(tenant_a.client, dataset, recipe="popularity")
    run_id = tenant_a.client.post("/api/v1/models/shop-recs/train", {}, format="json").json()["id"]
    cancelled = tenant_a.client.post(f"/api/v1/runs/{run_id}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    again = tenant_a.client.post(f"/api/v1/runs/{run_id}/cancel")
    assert again.status_code == 409


def test_failed_run_explains_and_leaves_no_files(tenant_a, django_capture_on_commit_callbacks, settings):
    from recommender.data.models import Dataset

    empty = Dataset.objects.create(tenant=tenant_a.tenant, name="empty", kind=Dataset.Kind.INTERACTIONS)
    _create(tenant_a.client, empty, recipe="ease")
    run = _train(tenant_a.client, "shop-recs", django_capture_on_commit_callbacks)
    assert run["status"] == "failed"
    assert run["error"].startswith("The data cannot be trained on")
    run_dir = settings.MEDIA_ROOT / f"tenants/{tenant_a.tenant.pk}/models"
    assert not run_dir.exists() or not any(path.is_file() for path in run_dir.rglob("*"))


def test_schedule_becomes_an_editable_periodic_task_and_skips_without_new_data(
    tenant_a, dataset, django_capture_on_commit_callbacks
):
    from django_celery_beat.models import PeriodicTask

    from recommender.training.services.runs import run_on_schedule

    created = _create(tenant_a.client, dataset, recipe="popularity", schedule="0 3 * * *").json()
    task = PeriodicTask.objects.get(task="recommender.training.tasks.train_on_schedule")
    assert task.crontab.hour == "3" and task.enabled
    bad = tenant_a.client.patch("/api/v1/models/shop-recs", {"schedule": "every day"}, format="json")
    assert bad.status_code == 400 and "cron" in bad.json()["error"]["message"]

    config_id = ModelConfig.objects.get(tenant=tenant_a.tenant, slug=created["slug"]).pk
    with django_capture_on_commit_callbacks(execute=True):
        first = run_on_schedule(tenant_a.tenant.pk, config_id)
    assert first is not None and first.trigger == "schedule"
    first.refresh_from_db()
    assert first.status == "succeeded"
    assert run_on_schedule(tenant_a.tenant.pk, config_id) is None  # nothing new since v1

    from recommender.data.models import Interaction

    Interaction.objects.create(tenant=tenant_a.tenant, dataset=dataset, user_id="u1", item_id="i2")
    with django_capture_on_commit_callbacks(execute=True):
        assert run_on_schedule(tenant_a.tenant.pk, config_id) is not None

    tenant_a.client.patch("/api/v1/models/shop-recs", {"schedule": ""}, format="json")
    assert not PeriodicTask.objects.filter(task="recommender.training.tasks.train_on_schedule").exists()


def test_recipes_endpoint_lists_declared_parameters(tenant_a):
    recipes = {recipe["name"]: recipe for recipe in tenant_a.client.get("/api/v1/recipes").json()}
    assert {"popularity", "ease", "neumf", "two_tower", "mlp_classifier", "mlp_regressor"} <= set(recipes)
    epochs = next(param for param in recipes["neumf"]["params"] if param["name"] == "epochs")
    assert epochs["min"] >= 1 and epochs["default"] >= 1 and epochs["help"]
    assert sum(recipe["is_default"] for recipe in recipes.values()) == 1


def test_quota_use_counts_models_and_runs(tenant_a, dataset, django_capture_on_commit_callbacks):
    _create(tenant_a.client, dataset, recipe="popularity")
    _train(tenant_a.client, "shop-recs", django_capture_on_commit_callbacks)
    quotas = tenant_a.client.get("/api/v1/usage").json()["quotas"]
    assert quotas["models"] == {"used": 1, "limit": tenant_a.tenant.plan.max_models}
    assert quotas["training_runs_per_day"]["used"] == 1
    assert quotas["rows"] == {"used": dataset.row_count, "limit": tenant_a.tenant.plan.max_rows}


def test_a_dataset_in_use_cannot_be_deleted_alone_but_goes_with_its_tenant(tenant_a, dataset):
    from django.db.models import RestrictedError

    from tenants.models import Tenant

    _create(tenant_a.client, dataset, recipe="popularity")
    with pytest.raises(RestrictedError):
        dataset.delete()
    Tenant.objects.get(pk=tenant_a.tenant.pk).delete()
    assert not ModelConfig.objects.unscoped().filter(slug="shop-recs").exists()
