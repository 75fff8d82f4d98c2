"""Model pages: configurations with generated forms, training with live progress, versions, deployment."""

from django.contrib import messages
from django.db.models import Prefetch
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_POST

from core.queueing import QueueUnavailable
from portal.access import portal_view
from recommender import ml
from recommender.data import selectors as data_selectors
from recommender.training import selectors as training_selectors
from recommender.training.models import TrainingRun
from recommender.training.services import configs, deployments, runs
from tenants.models import Role
from tenants.scoping import get_tenant_object_or_404

from ..forms import ModelConfigForm, TrainForm
from ..reports import metric_rows, progress_line, training_curves, version_comparison, version_summaries

COMPARED_VERSIONS = 6
RECENT_RUNS = 10


def _config(request, slug):
    return get_tenant_object_or_404(training_selectors.configs_with_deployment(), request.tenant, slug=slug)


def _run(request, pk):
    return get_tenant_object_or_404(TrainingRun.objects.select_related("config", "version"), request.tenant, pk=pk)


@portal_view()
def models(request):
    """The tenant's models with what they serve and their latest run."""
    latest_run = Prefetch("runs", queryset=TrainingRun.objects.order_by("-queued_at", "-id")[:1], to_attr="latest_runs")
    model_configs = training_selectors.configs_of(request.tenant).prefetch_related(latest_run)
    return render(request, "portal/models/models.html", {"configs": model_configs})


def _chosen_recipe(request, default):
    """The recipe whose form to show: the one just chosen (a reload), else ``default``."""
    names = {recipe.name for recipe in ml.list_recipes()}
    chosen = request.POST.get("recipe") or request.GET.get("recipe")
    return chosen if chosen in names else default


def _config_form(request, *, recipe, initial):
    """The configuration form: bound when saving; when the recipe changed, shown again with its fields."""
    datasets = data_selectors.datasets_of(request.tenant)
    if request.method == "POST" and "reload" not in request.POST:
        return ModelConfigForm(request.POST, datasets=datasets, recipe=recipe)
    if request.method == "POST":
        # Keep what was typed in the common fields; the new recipe's parameters start at their defaults.
        initial = {name: value for name, value in request.POST.items() if not name.startswith("param_")}
    return ModelConfigForm(initial={**initial, "recipe": recipe}, datasets=datasets, recipe=recipe)


def _save_config(request, form, save):
    """Run ``save(**values)``; the service's refusals land beside the form's fields."""
    try:
        return save(actor=request.actor, **form.service_values())
    except configs.ConfigError as exc:
        form.add_service_errors(exc.errors)
    except configs.QuotaError as exc:
        form.add_error(None, str(exc))
    return None


@portal_view(Role.ANALYST)
def model_create(request):
    """A new model configuration."""
    form = _config_form(request, recipe=_chosen_recipe(request, ml.DEFAULT_RECOMMENDATION_RECIPE), initial={})
    if form.is_bound and form.is_valid():
        config = _save_config(request, form, configs.create_config)
        if config is not None:
            messages.success(request, f"Created {config.name}. Train it to get a first version.")
            return redirect("portal:model", slug=config.slug)
    return render(request, "portal/models/model_form.html", {"form": form, "config": None})


@portal_view(Role.ANALYST)
def model_edit(request, slug):
    """Change a model's configuration; the next run uses it."""
    config = _config(request, slug)
    form = _config_form(
        request, recipe=_chosen_recipe(request, config.recipe), initial=ModelConfigForm.initial_for(config)
    )
    if form.is_bound and form.is_valid():
        if _save_config(request, form, lambda **values: configs.update_config(config=config, **values)):
            messages.success(request, "Saved. The next training run uses these settings.")
            return redirect("portal:model", slug=config.slug)
    return render(request, "portal/models/model_form.html", {"form": form, "config": config})


@portal_view(Role.ANALYST)
@require_POST
def model_delete(request, slug):
    """Delete a model with its runs, versions and artifacts."""
    config = _config(request, slug)
    configs.delete_config(actor=request.actor, config=config)
    messages.success(request, f"Deleted {config.name} with its versions.")
    return redirect("portal:models")


@portal_view()
def model(request, slug):
    """A model: its deployment, versions, runs and settings, and the form that trains it."""
    config = _config(request, slug)
    deployment = getattr(config, "deployment", None)
    context = {
        "config": config,
        "deployment": deployment,
        "version_rows": version_summaries(training_selectors.versions_of(config), deployment),
        "runs": training_selectors.runs_of(config)[:RECENT_RUNS],
        "train_form": TrainForm(config=config),
        "recipe": ml.get_recipe(config.recipe),
    }
    return render(request, "portal/models/model.html", context)


@portal_view(Role.ANALYST)
@require_POST
def model_train(request, slug):
    """Queue a training run (optionally tuning first) and show its page."""
    config = _config(request, slug)
    form = TrainForm(request.POST, config=config)
    if form.is_valid():
        try:
            run = runs.request_training(actor=request.actor, config=config, **form.cleaned_data)
        except (configs.QuotaError, runs.RunError, QueueUnavailable) as exc:
            messages.error(request, str(exc))
        else:
            return redirect("portal:model_run", pk=run.pk)
    else:
        messages.error(request, " ".join(form.errors["tuning_trials"]))
    return redirect("portal:model", slug=config.slug)


@portal_view()
def model_versions(request, slug):
    """The latest versions side by side: metrics beside their baselines, data and parameters."""
    config = _config(request, slug)
    versions = list(training_selectors.versions_of(config)[:COMPARED_VERSIONS])
    deployment = getattr(config, "deployment", None)
    context = {
        "config": config,
        "versions": versions,
        "rows": version_comparison(versions),
        "deployed_id": deployment.version_id if deployment else None,
    }
    return render(request, "portal/models/versions.html", context)


@portal_view(Role.ANALYST)
@require_POST
def model_deploy(request, slug, number):
    """Deploy a version; deploying an older one than the serving one is a rollback."""
    config = _config(request, slug)
    version = get_tenant_object_or_404(training_selectors.versions_of(config), request.tenant, number=number)
    deployments.deploy_version(actor=request.actor, version=version, reason=f"deployed by {request.user}")
    messages.success(request, f"Version {version.number} of {config.name} now serves.")
    if version.warning:
        messages.warning(request, f"{version.warning} Deploy the earlier version again to roll back.")
    back_to = "portal:model_versions" if request.POST.get("from") == "versions" else "portal:model"
    return redirect(back_to, slug=config.slug)


def _run_context(run):
    return {
        "run": run,
        "curve_charts": training_curves(run.history),
        "metrics": metric_rows(run.metrics),
        "progress_line": progress_line(run),
    }


@portal_view()
def model_run(request, pk):
    """A training run: live progress while it runs, then loss curves, metrics beside the baseline, errors."""
    return render(request, "portal/models/run.html", _run_context(_run(request, pk)))


@portal_view()
def model_run_status(request, pk):
    """The run's progress as JSON for the page's poller, with the loss chart drawn so far."""
    run = _run(request, pk)
    context = _run_context(run)
    curves = render_to_string("portal/models/run_curves.html", context, request=request)
    badge = render_to_string("portal/models/run_badge.html", context, request=request)
    return JsonResponse(
        {
            "id": run.pk,
            "status": run.status,
            "stage": run.stage,
            "progress": run.progress,
            "current_epoch": run.current_epoch,
            "total_epochs": run.total_epochs,
            "percent": f"{round(100 * run.progress)}%",
            "progress_line": context["progress_line"],
            "badge": badge,
            "finished": run.is_finished,
            "curves": curves,
        }
    )


@portal_view(Role.ANALYST)
@require_POST
def model_run_cancel(request, pk):
    """Cancel a run: at once when queued, after the current epoch when running."""
    run = _run(request, pk)
    try:
        runs.cancel_run(actor=request.actor, run=run)
    except runs.RunError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Cancelling: the run stops after its current epoch.")
    return redirect("portal:model_run", pk=run.pk)


@portal_view(Role.ANALYST)
@require_POST
def model_run_retry(request, pk):
    """Queue a new run like a failed or cancelled one."""
    run = _run(request, pk)
    try:
        again = runs.retry_run(actor=request.actor, run=run)
    except (configs.QuotaError, runs.RunError, QueueUnavailable) as exc:
        messages.error(request, str(exc))
        return redirect("portal:model_run", pk=run.pk)
    return redirect("portal:model_run", pk=again.pk)
