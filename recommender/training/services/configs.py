"""Creating, changing and deleting model configurations, and their retraining schedules."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils.text import slugify
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from core.errors import InvalidInput, QuotaExceeded
from recommender import ml
from tenants import audit
from tenants.models import Tenant

from ..models import ModelConfig
from ..selectors import model_count

if TYPE_CHECKING:
    from recommender.data.models import Dataset
    from recommender.ml.recipes.base import Recipe


class ConfigError(InvalidInput):
    """A configuration that cannot be saved; ``errors`` maps fields to reasons."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        first_field, first_reason = next(iter(errors.items()))
        super().__init__(
            f"{first_field}: {first_reason}", details={field: [reason] for field, reason in errors.items()}
        )


class QuotaError(QuotaExceeded):
    """The tenant's plan does not allow this."""


def default_metric(recipe_name: str) -> str:
    """The metric that decides 'if better' auto-deploys when the config names none."""
    return ml.get_recipe(recipe_name).default_metric


def _validated(recipe_name: str, params: dict[str, Any] | None, dataset: Dataset) -> tuple[Recipe, dict[str, Any]]:
    try:
        recipe = ml.get_recipe(recipe_name)
    except ml.UnknownRecipe as exc:
        raise ConfigError({"recipe": str(exc)}) from exc
    try:
        clean_params = recipe.validate(params or {}, allow_search_space=True)
    except ml.InvalidParams as exc:
        raise ConfigError({f"params.{field}": reason for field, reason in exc.errors.items()}) from exc
    wanted_kind = recipe.dataset_kind
    if dataset.kind != wanted_kind:
        raise ConfigError(
            {"dataset": f"The {recipe.name} recipe trains on a {wanted_kind} dataset; '{dataset}' is {dataset.kind}."}
        )
    return recipe, clean_params


def _validated_feature_columns(recipe: Recipe, dataset: Dataset, columns: Iterable[str] | None) -> list[str]:
    """The chosen feature columns, checked against the dataset's columns as its statistics last saw them."""
    columns = list(dict.fromkeys(columns or ()))
    if not columns:
        return []
    if recipe.task != "prediction":
        raise ConfigError({"feature_columns": "Only prediction models choose feature columns."})
    if dataset.target_column in columns:
        raise ConfigError({"feature_columns": f"'{dataset.target_column}' is the target: it cannot be a feature."})
    known = (dataset.stats or {}).get("columns") or []
    unknown = [name for name in columns if known and name not in known]
    if unknown:
        choices = ", ".join(name for name in known if name != dataset.target_column)
        raise ConfigError({"feature_columns": f"'{unknown[0]}' is not a column of {dataset.name}; it has {choices}."})
    return columns


def _unique_slug(tenant: Tenant, name: str, wanted: str | None = None) -> str:
    base = slugify(wanted or name)[:50] or "model"
    if wanted and ModelConfig.objects.for_tenant(tenant).filter(slug=base).exists():
        raise ConfigError({"slug": f"A model with the slug '{base}' already exists."})
    slug, n = base, 1
    while ModelConfig.objects.for_tenant(tenant).filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def _crontab(expression: str) -> CrontabSchedule:
    fields = expression.split()
    if len(fields) != 5:
        raise ConfigError({"schedule": "Use five cron fields: minute hour day-of-month month day-of-week."})
    minute, hour, day_of_month, month, day_of_week = fields
    try:
        schedule, _ = CrontabSchedule.objects.get_or_create(
            minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month, day_of_week=day_of_week
        )
        schedule.schedule  # noqa: B018 - parsing the fields raises on a bad value
    except Exception as exc:  # celery raises ValueError or ParseException subclasses
        raise ConfigError({"schedule": f"'{expression}' is not a valid cron expression: {exc}"}) from exc
    return schedule


def _sync_schedule(config: ModelConfig) -> None:
    """Mirror ``config.schedule`` into a django-celery-beat periodic task (editable in the admin)."""
    if not config.schedule:
        if config.periodic_task_id:
            PeriodicTask.objects.filter(pk=config.periodic_task_id).delete()
            config.periodic_task = None
        return
    crontab = _crontab(config.schedule)
    values = {
        "crontab": crontab,
        "task": "recommender.training.tasks.train_on_schedule",
        "args": json.dumps([config.tenant_id, config.pk]),
        "enabled": True,
    }
    if config.periodic_task_id:
        PeriodicTask.objects.filter(pk=config.periodic_task_id).update(**values)
    else:
        config.periodic_task = PeriodicTask.objects.create(
            name=f"Retrain {config.tenant.slug}/{config.slug} (config {config.pk})", **values
        )


@transaction.atomic
def create_config(
    *,
    actor: audit.Actor,
    name: str,
    dataset: Dataset,
    recipe: str | None = None,
    params: dict[str, Any] | None = None,
    slug: str | None = None,
    schedule: str | None = "",
    auto_deploy: str | None = None,
    auto_deploy_metric: str = "",
    feature_columns: Iterable[str] | None = (),
    retrain_after_events: int | None = None,
    retrain_after_new_items_percent: float | None = None,
) -> ModelConfig:
    """Create a model configuration; the recipe defaults to the platform's best recommendation recipe."""
    tenant = actor.tenant
    # Concurrent creations for one tenant take turns, so two requests cannot both
    # pass the slug and model-quota checks below (the loser got a 500 before).
    Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
    if dataset.tenant_id != tenant.pk:
        raise ConfigError({"dataset": "No such dataset."})
    if model_count(tenant) >= tenant.plan.max_models:
        raise QuotaError(f"Your plan allows {tenant.plan.max_models} models; delete one or change plan.")
    recipe_obj, clean_params = _validated(recipe or ml.DEFAULT_RECOMMENDATION_RECIPE, params, dataset)
    config = ModelConfig.objects.create(
        tenant=tenant,
        name=name,
        slug=_unique_slug(tenant, name, slug),
        recipe=recipe_obj.name,
        params=clean_params,
        feature_columns=_validated_feature_columns(recipe_obj, dataset, feature_columns),
        dataset=dataset,
        schedule=(schedule or "").strip(),
        auto_deploy=auto_deploy or ModelConfig._meta.get_field("auto_deploy").default,
        auto_deploy_metric=auto_deploy_metric or default_metric(recipe_obj.name),
        retrain_after_events=retrain_after_events,
        retrain_after_new_items_percent=retrain_after_new_items_percent,
        created_by=actor.user if getattr(actor.user, "pk", None) else None,
    )
    _sync_schedule(config)
    config.save(update_fields=["periodic_task"])
    audit.record(actor, "model.created", config, recipe=config.recipe)
    return config


UPDATABLE_FIELDS = (
    "name", "recipe", "params", "dataset", "schedule", "auto_deploy", "auto_deploy_metric", "feature_columns",
    "retrain_after_events", "retrain_after_new_items_percent",
)  # fmt: skip


@transaction.atomic
def update_config(*, actor: audit.Actor, config: ModelConfig, **changes: Any) -> ModelConfig:
    """Change a configuration; the next training run uses the new settings."""
    unknown = set(changes) - set(UPDATABLE_FIELDS)
    if unknown:
        raise ConfigError({field: "This field cannot be changed." for field in unknown})
    if "dataset" in changes and changes["dataset"].tenant_id != config.tenant_id:
        raise ConfigError({"dataset": "No such dataset."})
    recipe_changed = "recipe" in changes and changes["recipe"] != config.recipe
    for field, value in changes.items():
        setattr(config, field, value.strip() if field == "schedule" else value)
    if recipe_changed and "params" not in changes:
        config.params = {}
    if recipe_changed and "feature_columns" not in changes:
        config.feature_columns = []
    recipe, config.params = _validated(config.recipe, config.params, config.dataset)
    config.feature_columns = _validated_feature_columns(recipe, config.dataset, config.feature_columns)
    if recipe_changed and "auto_deploy_metric" not in changes:
        config.auto_deploy_metric = default_metric(config.recipe)
    _sync_schedule(config)
    config.save()
    audit.record(actor, "model.updated", config, fields=sorted(changes))
    return config


@transaction.atomic
def delete_config(*, actor: audit.Actor, config: ModelConfig) -> None:
    """Delete a configuration with its runs, versions and deployment (artifacts too)."""
    from ..storage import delete_artifact

    prefixes = list(config.versions.values_list("artifact_path", flat=True))
    if config.periodic_task_id:
        PeriodicTask.objects.filter(pk=config.periodic_task_id).delete()
    audit.record(actor, "model.deleted", config)
    config.delete()
    transaction.on_commit(lambda: [delete_artifact(prefix) for prefix in prefixes])
