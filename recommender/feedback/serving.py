"""What serving calls: which version answers a user (experiments), and the impression of each answer.

Both run on every request, so both are cheap: the running experiment of a model
is re-read at most once a second per process (LOCAL_CACHE_SECONDS), assigning an
arm is one SHA-256, and recording an impression is an in-memory append
(see ``impressions.py``).

Assignment: ``int(sha256(f"{salt}:{user_id}").hexdigest()[:15], 16) % 100`` is the
user's slot (0-99); arms take consecutive slots by their split, in their order.
The salt is the experiment's, fixed at creation and shown by the API, so any
assignment can be reproduced and a user keeps their arm for the experiment's life.
"""

import hashlib
from dataclasses import dataclass

from django.conf import settings

from core.cache import TtlCache
from recommender.serving.loader import ServedModel, served_model, version_scorer

from . import impressions
from .exploration import explore

__all__ = ["RoutedModel", "assigned_slot", "explore", "record_impression", "route"]


@dataclass(frozen=True)
class RoutedModel(ServedModel):
    """A served model with the tenant and the experiment arm that answered (if any)."""

    tenant_id: int = 0
    experiment_id: int | None = None
    arm: str = ""


def _local_cache_seconds():
    return settings.PLATFORM["LOCAL_CACHE_SECONDS"]


_running = TtlCache(_local_cache_seconds)


def _running_experiment(tenant, config_id):
    """``(experiment id, salt, [(last slot, arm name, config id, slug, dataset id, version id, number, path,
    recipe)])``."""

    def read():
        from .selectors import running_experiment_routes

        return running_experiment_routes(tenant=tenant, config_id=config_id)

    return _running.get((tenant.pk, config_id), read)


def assigned_slot(salt: str, user_id: str) -> int:
    """The user's slot, 0-99, in the experiment with ``salt`` (stable and reproducible)."""
    return int(hashlib.sha256(f"{salt}:{user_id}".encode()).hexdigest()[:15], 16) % 100


def route(tenant, slug, user_id):
    """The model that answers ``user_id`` on ``slug``: the deployed version, or the user's experiment arm."""
    served = served_model(tenant, slug)
    experiment = _running_experiment(tenant, served.config_id) if user_id is not None else None
    if not experiment:
        return RoutedModel(*_fields(served), tenant_id=tenant.pk)
    experiment_id, salt, arms = experiment
    slot = assigned_slot(salt, str(user_id))
    for last_slot, arm, config_id, arm_slug, dataset_id, version_id, number, path, recipe in arms:
        if slot <= last_slot:
            scorer = version_scorer(version_id, path, tenant=tenant)
            return RoutedModel(
                config_id, arm_slug, dataset_id, version_id, number, scorer, recipe,
                tenant_id=tenant.pk, experiment_id=experiment_id, arm=arm,
            )  # fmt: skip
    return RoutedModel(*_fields(served), tenant_id=tenant.pk)


def _fields(served):
    return (
        served.config_id, served.slug, served.dataset_id, served.version_id, served.version_number, served.scorer,
        served.recipe,
    )  # fmt: skip


def record_impression(served, user_id, items) -> str:
    """Queue the impression of an answer; returns its recommendation_id."""
    return impressions.record(
        tenant_id=getattr(served, "tenant_id", 0),
        config_id=served.config_id,
        version_number=served.version_number,
        experiment_id=getattr(served, "experiment_id", None),
        arm=getattr(served, "arm", ""),
        user_id=None if user_id is None else str(user_id),
        item_ids=[item_id for item_id, _ in items],
    )
