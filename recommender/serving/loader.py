"""Which version a model serves, and its loaded scorer, cached in the process.

Deployment look-ups are kept for LOCAL_CACHE_SECONDS (1 s by default), so a new
deployment or a rollback is served by every process within that delay while a
busy process asks the database at most once a second per model. Loaded scorers
are kept in an LRU bounded in bytes (SERVING_CACHE_BYTES).
"""

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from django.conf import settings

from recommender import ml
from recommender.training.models import ModelConfig
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


_lock = threading.Lock()
_deployments = {}  # (tenant_id, slug) -> (expires_at, config_id, dataset_id, version_id, number, artifact_path)
_scorers = OrderedDict()  # version_id -> scorer
_scorer_bytes = {}


def _deployment_of(tenant, slug):
    key = (tenant.pk, slug)
    now = time.monotonic()
    cached = _deployments.get(key)
    if cached is not None and cached[0] > now:
        return cached[1:]
    config = ModelConfig.objects.for_tenant(tenant).filter(slug=slug).select_related("deployment__version").first()
    if config is None:
        entry = None
    else:
        deployment = getattr(config, "deployment", None)
        version = deployment.version if deployment else None
        entry = (
            config.pk,
            config.dataset_id,
            version.pk if version else None,
            version.number if version else None,
            version.artifact_path if version else None,
        )
    with _lock:
        if len(_deployments) > 10_000:
            _deployments.clear()
        _deployments[key] = (now + settings.PLATFORM["LOCAL_CACHE_SECONDS"], *(entry or (None,) * 5))
    return entry or (None,) * 5


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
    config_id, dataset_id, version_id, number, artifact_path = _deployment_of(tenant, slug)
    if config_id is None:
        raise ModelNotFound(slug)
    scorer = _scorer_for(version_id, artifact_path) if version_id else None
    return ServedModel(config_id, slug, dataset_id, version_id, number, scorer)


def cache_stats():
    """Loaded versions and their bytes in this process (for operators and tests)."""
    with _lock:
        return {"versions": list(_scorers), "bytes": sum(_scorer_bytes.values())}


def forget_all():
    """Empty the process caches (tests)."""
    with _lock:
        _deployments.clear()
        _scorers.clear()
        _scorer_bytes.clear()
