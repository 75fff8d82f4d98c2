"""Which version a model serves, and its loaded scorer, cached in the process.

Deployment look-ups are kept for LOCAL_CACHE_SECONDS (1 s by default), so a new
deployment or a rollback is served by every process within that delay while a
busy process asks the database at most once a second per model. Loaded scorers
are kept in an LRU bounded in bytes (SERVING_CACHE_BYTES).

A version whose recipe places items by their text (``scorer.placer``) also
serves the catalogue items added since its training started: every
SERVING_NEW_ITEMS_SECONDS (30 s) a process reads the newest of them (at most
NEW_ITEMS_LIMIT) and serves a copy of the scorer with their vectors, computed
in numpy by the trained tower, so a new item gets scores and similar items
without retraining.
"""

import threading
import time
from dataclasses import dataclass

from cachetools import LRUCache
from django.conf import settings

from core.cache import TtlCache, clear_every_cache
from recommender import ml
from recommender.data import selectors as data_selectors
from recommender.training.models import ModelConfig, ModelVersion
from recommender.training.storage import local_artifact_dir


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


def _new_items_seconds():
    return settings.PLATFORM["SERVING_NEW_ITEMS_SECONDS"]


def _scorer_bytes(scorer: ml.Scorer) -> int:
    # A scorer larger than the whole budget counts as the budget: it is still kept, alone, as it always was.
    return min(scorer.nbytes, _scorers.maxsize)


# Newest catalogue items a version places after its training; older ones wait for the next training.
NEW_ITEMS_LIMIT = 10_000

_deployments = TtlCache(_local_cache_seconds)  # (tenant_id, slug) -> deployment facts, or None
# version_id -> loaded scorer; the least recently used leave first once their bytes pass the budget.
_scorers: LRUCache[int, ml.Scorer] = LRUCache(
    maxsize=max(1, settings.PLATFORM["SERVING_CACHE_BYTES"]), getsizeof=_scorer_bytes
)
# version_id -> (monotonic expiry, scorer serving the new items too); dropped with the version's scorer.
_placed: dict[int, tuple[float, ml.Scorer]] = {}
_lock = threading.Lock()  # cachetools' caches are not thread-safe


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
        scorer = _scorers.get(version_id)  # a hit becomes the most recently used
    if scorer is not None:
        return scorer
    # Loaded outside the lock: reading an artifact must not hold up requests for other versions.
    scorer = ml.load_scorer(local_artifact_dir(artifact_path))
    with _lock:
        _scorers[version_id] = scorer
        for evicted in _placed.keys() - _scorers.keys():
            del _placed[evicted]
    return scorer


def _placing_new_items(tenant, version_id, scorer):
    """``scorer``, or a copy that also serves the catalogue items added since the version's training began."""
    if getattr(scorer, "placer", None) is None:
        return scorer
    now = time.monotonic()
    with _lock:
        expires, placed = _placed.get(version_id, (0.0, None))
    if placed is not None and expires > now:
        return placed
    version = ModelVersion.objects.for_tenant(tenant).filter(pk=version_id).select_related("run").first()
    if version is None:
        return scorer
    # Items created while the run read its data may be in the model already: with_items skips those.
    since = (version.run.started_at if version.run else None) or version.created_at
    placed = scorer.with_items(data_selectors.items_added_since(tenant, since=since, limit=NEW_ITEMS_LIMIT))
    with _lock:
        if version_id in _scorers:
            _placed[version_id] = (now + _new_items_seconds(), placed)
    return placed


def served_model(tenant, slug):
    """The model ``slug`` of ``tenant`` with its deployed scorer; raises ModelNotFound."""
    config_id, dataset_id, version_id, number, artifact_path, recipe = _deployment_of(tenant, slug)
    if config_id is None:
        raise ModelNotFound(slug)
    scorer = _placing_new_items(tenant, version_id, _scorer_for(version_id, artifact_path)) if version_id else None
    return ServedModel(config_id, slug, dataset_id, version_id, number, scorer, recipe)


def version_scorer(version_id, artifact_path, *, tenant=None):
    """The loaded scorer of any version (an experiment arm), from the same bounded cache.

    With ``tenant`` it serves the catalogue items added after training too, like ``served_model``.
    """
    scorer = _scorer_for(version_id, artifact_path)
    return scorer if tenant is None else _placing_new_items(tenant, version_id, scorer)


def forget_all():
    """Empty this process's caches: deployments, loaded versions, tenant facts and API keys (tests)."""
    clear_every_cache()
    with _lock:
        _scorers.clear()
        _placed.clear()
