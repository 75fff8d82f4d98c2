"""Models: the form generated from the recipe, training with progress, versions, deployment and rollback."""

import pytest
from django.urls import reverse

from recommender.training.models import Deployment, ModelConfig, RunStatus, TrainingRun
from tenants.models import AuditLog

from .conftest import signed_in, train

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_client(tenant_a):
    return signed_in(tenant_a.owner, tenant_a.tenant)


def _config_data(dataset, **changes):
    return {"name": "Shop recs", "recipe": "ease", "dataset": dataset.pk, "auto_deploy": "if_better", **changes}


def test_the_form_is_generated_from_the_recipes_parameters(clicks_a, owner_client):
    page = owner_client.get(reverse("portal:model_create"), {"recipe": "neumf"})
    form = page.context["form"]
    assert [field.name for field in form.param_fields()][:3] == ["param_gmf_dim", "param_mlp_dim", "param_mlp_layers"]
    html = page.content.decode()
    assert "Passes over the positives (negatives are redrawn each pass). Allowed: between 1 and 500." in html
    assert 'value="32, 16, 8"' in html
    assert 'data-submit-on-change="reload-recipe"' in html


def test_changing_the_recipe_reloads_the_form_and_keeps_what_was_typed(clicks_a, owner_client):
    dataset, _ = clicks_a
    page = owner_client.post(
        reverse("portal:model_create"), {**_config_data(dataset, recipe="popularity"), "reload": "1"}
    )
    form = page.context["form"]
    assert [field.name for field in form.param_fields()] == ["param_half_life_days"]
    assert form["name"].value() == "Shop recs"
    assert not form.errors
    assert not ModelConfig.objects.unscoped().exists()


def test_bad_values_are_refused_beside_their_fields(clicks_a, owner_client):
    dataset, _ = clicks_a
    page = owner_client.post(reverse("portal:model_create"), _config_data(dataset, param_l2="0", param_neighbors="ten"))
    errors = page.context["form"].errors
    assert "between 1 and 1e+06" in errors["param_l2"][0]
    assert "must be an integer" in errors["param_neighbors"][0]
    page = owner_client.post(reverse("portal:model_create"), _config_data(dataset, schedule="often"))
    assert "five cron fields" in page.context["form"].errors["schedule"][0]
    assert not ModelConfig.objects.unscoped().exists()


def test_create_then_edit_with_a_tuning_range(clicks_a, owner_client):
    dataset, _ = clicks_a
    response = owner_client.post(reverse("portal:model_create"), _config_data(dataset, param_l2="250"))
    config = ModelConfig.objects.unscoped().get()
    assert response["Location"] == reverse("portal:model", args=[config.slug])
    assert config.params["l2"] == 250.0

    edit = owner_client.get(reverse("portal:model_edit", args=[config.slug]))
    assert edit.context["form"]["param_l2"].value() == 250.0
    owner_client.post(
        reverse("portal:model_edit", args=[config.slug]),
        _config_data(dataset, param_l2="10..1000", schedule="0 3 * * *", auto_deploy="never"),
    )
    config.refresh_from_db()
    assert config.params["l2"] == {"min": 10.0, "max": 1000.0, "log": False}
    assert (config.schedule, config.auto_deploy, config.periodic_task is not None) == ("0 3 * * *", "never", True)

    response = owner_client.post(reverse("portal:model_train", args=[config.slug]), {"tuning_trials": 0}, follow=True)
    assert "choose how many sets to try" in response.content.decode()
    assert not TrainingRun.objects.unscoped().exists()


def test_train_watch_the_run_then_see_metrics_beside_the_baseline(
    clicks_a, owner_client, django_capture_on_commit_callbacks
):
    dataset, _ = clicks_a
    owner_client.post(reverse("portal:model_create"), _config_data(dataset))
    config = ModelConfig.objects.unscoped().get()
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("portal:model_train", args=[config.slug]), {"tuning_trials": 0})
    run = TrainingRun.objects.unscoped().get()
    assert response["Location"] == reverse("portal:model_run", args=[run.pk])

    status = owner_client.get(reverse("portal:model_run_status", args=[run.pk])).json()
    assert (status["status"], status["finished"], status["percent"]) == ("succeeded", True, "100%")
    page = owner_client.get(response["Location"]).content.decode()
    assert "data-poll" not in page
    assert "beside the popularity baseline" in page
    assert "<code>ndcg@10</code>" in page
    assert "first version of this model: deployed automatically" in page
    assert "serving" in owner_client.get(reverse("portal:model", args=[config.slug])).content.decode()


def test_a_queued_run_shows_live_progress_and_can_be_cancelled_and_retried(clicks_a, tenant_a, owner_client):
    dataset, _ = clicks_a
    config, run = train(tenant_a.tenant, dataset)  # not executed: the on-commit hook never runs here
    page = owner_client.get(reverse("portal:model_run", args=[run.pk])).content.decode()
    assert f'data-poll="{reverse("portal:model_run_status", args=[run.pk])}"' in page
    assert "The first epoch has not finished yet." in page

    owner_client.post(reverse("portal:model_run_cancel", args=[run.pk]))
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    response = owner_client.post(reverse("portal:model_run_retry", args=[run.pk]))
    again = TrainingRun.objects.unscoped().exclude(pk=run.pk).get()
    assert response["Location"] == reverse("portal:model_run", args=[again.pk])
    assert again.trigger == TrainingRun.Trigger.RETRY


def test_a_neural_run_plots_its_loss_per_epoch(clicks_a, tenant_a, owner_client, django_capture_on_commit_callbacks):
    dataset, _ = clicks_a
    with django_capture_on_commit_callbacks(execute=True):
        _, run = train(tenant_a.tenant, dataset, recipe="neumf", params={"epochs": 2, "mlp_layers": [8]})
    status = owner_client.get(reverse("portal:model_run_status", args=[run.pk])).json()
    assert 'aria-label="Loss per epoch, on the evaluation split and in the final training"' in status["curves"]
    assert "training (final run)" in status["curves"]
    assert "<polyline" in status["curves"]


def test_versions_side_by_side_deploy_and_roll_back(
    clicks_a, tenant_a, owner_client, django_capture_on_commit_callbacks
):
    dataset, _ = clicks_a
    with django_capture_on_commit_callbacks(execute=True):
        config, _ = train(tenant_a.tenant, dataset, recipe="popularity")
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(reverse("portal:model_train", args=[config.slug]), {"tuning_trials": 0})
    compared = owner_client.get(reverse("portal:model_versions", args=[config.slug]))
    assert [version.number for version in compared.context["versions"]] == [2, 1]
    assert compared.context["rows"][0]["label"] == "ndcg@10"
    assert "Deploy v" in compared.content.decode()

    serving = Deployment.objects.unscoped().get(config=config).version.number
    older = 1 if serving == 2 else 2
    response = owner_client.post(
        reverse("portal:model_deploy", args=[config.slug, older]), {"from": "versions"}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("portal:model_versions", args=[config.slug])
    assert Deployment.objects.unscoped().get(config=config).version.number == older
    if older == 1:
        assert AuditLog.objects.unscoped().filter(action="model.rolled_back").exists()


def test_deleting_a_model(stock_a, owner_client):
    owner_client.post(reverse("portal:model_delete", args=[stock_a.config.slug]))
    assert not ModelConfig.objects.unscoped().filter(pk=stock_a.config.pk).exists()


def test_the_drift_policy_is_set_in_the_form_and_checked(clicks_a, owner_client):
    dataset, _ = clicks_a
    owner_client.post(reverse("portal:model_create"), _config_data(dataset, retrain_after_events="500"))
    config = ModelConfig.objects.unscoped().get()
    assert (config.retrain_after_events, config.retrain_after_new_items_percent) == (500, None)
    edit = owner_client.get(reverse("portal:model_edit", args=[config.slug]))
    assert edit.context["form"]["retrain_after_events"].value() == 500
    assert "Retrain after new items (%)" in edit.content.decode()
    page = owner_client.post(
        reverse("portal:model_edit", args=[config.slug]), _config_data(dataset, retrain_after_new_items_percent="0")
    )
    assert "greater than or equal to 0.1" in page.context["form"].errors["retrain_after_new_items_percent"][0]
    owner_client.post(
        reverse("portal:model_edit", args=[config.slug]), _config_data(dataset, retrain_after_new_items_percent="5")
    )
    config.refresh_from_db()
    assert (config.retrain_after_events, config.retrain_after_new_items_percent) == (None, 5.0)
