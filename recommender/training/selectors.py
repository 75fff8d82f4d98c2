"""Reads of the training app. Every function takes or returns tenant-scoped querysets."""

from datetime import timedelta

from django.db.models import QuerySet, Sum
from django.utils import timezone

from recommender.data.models import Interaction
from tenants.models import Tenant, TenantOwnedQuerySet

from .models import ModelConfig, ModelVersion, TrainingRun


def configs_with_deployment() -> TenantOwnedQuerySet[ModelConfig]:
    """Model configs with their deployment and deployed version loaded (scope with ``for_tenant``)."""
    return ModelConfig.objects.select_related("deployment__version", "dataset")


def configs_of(tenant: Tenant) -> QuerySet[ModelConfig]:
    return configs_with_deployment().for_tenant(tenant)


def runs_of(config: ModelConfig) -> QuerySet[TrainingRun]:
    return TrainingRun.objects.for_tenant(config.tenant).filter(config=config).select_related("config", "version")


def versions_of(config: ModelConfig) -> QuerySet[ModelVersion]:
    return (
        ModelVersion.objects.for_tenant(config.tenant)
        .filter(config=config)
        .select_related("config__deployment")
        .order_by("-number")
    )


def model_count(tenant: Tenant) -> int:
    """The tenant's model configurations, for the plan's ``max_models``."""
    return ModelConfig.objects.for_tenant(tenant).count()


def runs_in_last_day(tenant: Tenant) -> int:
    """Training runs requested in the last 24 hours, for the plan's ``max_training_runs_per_day``."""
    return TrainingRun.objects.for_tenant(tenant).filter(queued_at__gte=timezone.now() - timedelta(days=1)).count()


def artifact_bytes(tenant: Tenant) -> int:
    """Bytes of the tenant's stored model artifacts (every version's files)."""
    total = ModelVersion.objects.for_tenant(tenant).exclude(artifact_path="").aggregate(total=Sum("artifact_bytes"))
    return total["total"] or 0


def drift_since(version: ModelVersion) -> dict:
    """What arrived in the model's dataset since ``version`` was trained: ``new_events`` (rows after its data
    snapshot), ``new_items`` (items in those events that no earlier event has: the version never saw them),
    ``known_items`` and ``new_items_percent``. Two indexed counts over the dataset's interactions."""
    config = version.config
    latest_id = version.data_snapshot.get("latest_id") or 0
    rows = Interaction.objects.for_tenant(config.tenant).filter(dataset_id=config.dataset_id)
    new_events = rows.filter(id__gt=latest_id).count()
    known_ids = rows.filter(id__lte=latest_id).values("item_id")
    known = known_ids.order_by().distinct().count()
    new_items = 0
    if new_events:
        new_items = (
            rows.filter(id__gt=latest_id).exclude(item_id__in=known_ids).values("item_id").order_by().distinct().count()
        )
    return {
        "new_events": new_events,
        "new_items": new_items,
        "known_items": known,
        "new_items_percent": 100.0 * new_items / known if known else (100.0 if new_items else 0.0),
    }
