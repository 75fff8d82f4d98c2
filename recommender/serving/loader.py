"""Which version a model serves, and its loaded scorer, cached in the process.

Deployment look-ups are kept for LOCAL_CACHE_SECONDS (1 s by default), so a new
deployment or a rollback is served by every process within that delay while a
busy process asks the database at most once a second per model. Loaded scorers
are kept in an LRU bounded in bytes (SERVING_CACHE_BYTES).
"""

import threading
from collections import OrderedDict
from dataclasses import dataclass

from django.conf import settings

from recommender import ml
from recommender.training.models import ModelConfig
from recommender.training.storage import local_artifact_dir

from .cache import TtlCache, clear_every_cache


class ModelNotFound(Exception):
    """The tenant has no model with this slug."""


@dataclass(frozen=True)
class ServedModel:
    """A model as serving sees it; ``scorer`` is None when nothing is deployed."""

    config_id: int
    slug: str
    dataset_id: int
    version_id: int | None
    version_number: int | None
    scorer: object | None
    recipe: str = ""


def _local_cache_seconds():
    return settings.PLATFORM["LOCAL_CACHE_SECONDS"]


_lock = threading.Lock()
_deployments = TtlCache(_local_cache_seconds)  # (tenant_id, slug) -> deployment facts, or None
_scorers = OrderedDict()  # version_id -> scorer, least recently used first
_scorer_bytes = {}


def _deployment_of(tenant, slug):
    """``(config_id, dataset_id, version_id, number, artifact_path, recipe)``; all None without such a model."""

    def read():
        config = ModelConfig.objects.for_tenant(tenant).filter(slug=slug).select_related("deployment__version").first()
        if config is None:
            return (None,) * 6
        deployment = getattr(config, "deployment", None)
        version = deployment.version if deployment else None
        if version is None:
            return config.pk, config.dataset_id, None, None, None, config.recipe
        return config.pk, config.dataset_id, version.pk, version.number, version.artifact_path, version.recipe

    return _deployments.get((tenant.pk, slug), read)


def _scorer_for(version_id, artifact_path):
    with _lock:
        scorer = _scorers.get(version_id)
        if scorer is not None:
            _scorers.move_to_end(version_id)
            return scorer
    scorer = ml.load_scorer(local_artifact_dir(artifact_path))
    with _lock:
        _scorers[version_id] = scorer
        _scorer_bytes[version_id] = scorer.nbytes
        budget = settings.PLATFORM["SERVING_CACHE_BYTES"]
        while len(_scorers) > 1 and sum(_scorer_bytes.values()) > budget:
            evicted, _ = _scorers.popitem(last=False)
            _scorer_bytes.pop(evicted, None)
    return scorer


def served_model(tenant, slug):
    """The model ``slug`` of ``tenant`` with its deployed scorer; raises ModelNotFound."""
    config_id, dataset_id, version_id, number, artifact_path, recipe = _deployment_of(tenant, slug)
    if config_id is None:
        raise ModelNotFound(slug)
    scorer = _scorer_for(version_id, artifact_path) if version_id else None
    return ServedModel(config_id, slug, dataset_id, version_id, number, scorer, recipe)


def version_scorer(version_id, artifact_path):
    """The loaded scorer of any version (an experiment arm), from the same bounded cache."""
    return _scorer_for(version_id, artifact_path)


def forget_all():
    """Empty this process's serving caches: deployments, loaded versions and tenant facts (tests)."""
    clear_every_cache()
    with _lock:
        _scorers.clear()
        _scorer_bytes.clear()
