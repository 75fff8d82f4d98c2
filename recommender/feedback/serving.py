"""What serving calls: which version answers a user (experiments), and the impression of each answer.

Both run on every request, so both are cheap: the running experiment of a model
is re-read at most once a second per process (LOCAL_CACHE_SECONDS), assigning an
arm is one SHA-256, and recording an impression is an in-memory append
(see ``impressions.py``).

Assignment: ``int(sha256(f"{salt}:{user_id}").hexdigest()[:15], 16) % 100`` is the
user's slot (0-99); arms take consecutive slots by their split, in their order.
The salt is the experiment's, fixed at creation and shown by the API, so any
assignment can be reproduced and a user keeps their arm for the experiment's life.
An arm a guardrail stopped keeps its slots, but they are served by the control.

Guardrails need each arm's latency and errors: ``route`` notes when the request
was routed (the impression carries the milliseconds to the answer), and the
serving functions wrapped in ``guarded`` record a request that fails with an
unexpected error after routing as an error impression of its arm.
"""

import dataclasses
import functools
import hashlib
import time
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings

from core.cache import TtlCache
from core.errors import DomainError
from recommender.serving.loader import ServedModel, served_model, version_scorer

from . import impressions
from .exploration import explore

__all__ = ["RoutedModel", "assigned_slot", "explore", "guarded", "record_impression", "route"]


@dataclass(frozen=True)
class RoutedModel(ServedModel):
    """A served model with the tenant and the experiment arm that answered (if any)."""

    tenant_id: int = 0
    experiment_id: int | None = None
    arm: str = ""
    # time.perf_counter() when the request was routed: the impression's latency is measured from here.
    started: float = 0.0


# The experiment arm the current request was routed to, and its user: what an error is recorded against.
_routed = ContextVar("feedback_routed", default=None)


def guarded(function):
    """Wrap a serving function so that an unexpected error after routing to an experiment arm is recorded.

    Domain errors (bad input, an unsupported call) are the caller's, not the arm's, and are not counted.
    """

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        token = _routed.set(None)
        try:
            return function(*args, **kwargs)
        except DomainError:
            raise
        except Exception:
            routed = _routed.get()
            if routed is not None:
                arm, user_id = routed
                impressions.record(
                    tenant_id=arm.tenant_id, config_id=arm.config_id, version_number=arm.version_number,
                    experiment_id=arm.experiment_id, arm=arm.arm, user_id=user_id, item_ids=[],
                    latency_ms=_elapsed_ms(arm.started), error=True,
                )  # fmt: skip
            raise
        finally:
            _routed.reset(token)

    return wrapper


def _elapsed_ms(started):
    return round((time.perf_counter() - started) * 1000, 3) if started else None


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
    started = time.perf_counter()
    experiment = _running_experiment(tenant, served.config_id) if user_id is not None else None
    if not experiment:
        return RoutedModel(*_fields(served), tenant_id=tenant.pk, started=started)
    experiment_id, salt, arms = experiment
    slot = assigned_slot(salt, str(user_id))
    for last_slot, arm, config_id, arm_slug, dataset_id, version_id, number, path, recipe in arms:
        if slot <= last_slot:
            routed = RoutedModel(
                config_id, arm_slug, dataset_id, version_id, number, None, recipe,
                tenant_id=tenant.pk, experiment_id=experiment_id, arm=arm, started=started,
            )  # fmt: skip
            # Set before loading: an arm whose artifact cannot be loaded is an arm that fails.
            _routed.set((routed, str(user_id)))
            scorer = version_scorer(version_id, path, tenant=tenant)
            # Latency is counted from here: a version's one-off load into the process is not its serving time.
            return dataclasses.replace(routed, scorer=scorer, started=time.perf_counter())
    return RoutedModel(*_fields(served), tenant_id=tenant.pk, started=started)


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
        latency_ms=_elapsed_ms(getattr(served, "started", 0.0)),
    )
