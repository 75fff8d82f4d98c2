"""What the recommend-scope API answers: recommendations, similar items, rank, predict.

Each function takes the tenant and raw request values and returns a plain dict
in the API's shape. Filters read the live data (events that arrived after
training, deactivated items), so answers are never staler than the database.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings

from core.cache import TtlCache
from core.errors import InvalidInput
from recommender import ml
from recommender.data import selectors as data_selectors
from recommender.data.privacy import tenant_keys
from recommender.feedback import serving as feedback

from . import selectors
from .loader import ModelNotFound, served_model

if TYPE_CHECKING:
    from tenants.models import Tenant

    from .loader import ServedModel

__all__ = [
    "ModelNotFound",
    "ServingError",
    "predict",
    "rank",
    "recommend",
    "recommend_session",
    "require_operation",
    "similar_items",
]


# Items one rank request may order, and one anonymous session may send (models read at most their own
# max_history of them): the API's serializers and the portal's forms both hold requests to these.
MAX_RANK_ITEMS = 500
MAX_SESSION_ITEMS = 500


class ServingError(InvalidInput):
    """A request the deployed model cannot answer, with a reason for the caller."""

    def __init__(self, message: str, code: str = "invalid", details: dict[str, Any] | None = None) -> None:
        super().__init__(message, code=code, details=details)


# What each call is, in a person's words, for the ``unsupported`` error.
_OPERATIONS = {
    "recommend": "recommendations",
    "similar_items": "similar items",
    "rank": "ranking",
    "predict": "predictions",
}


def require_operation(slug: str, recipe_name: str, operation: str) -> None:
    """Refuse (``unsupported``, a 400) a call the model's recipe does not offer, before any work."""
    recipe = ml.get_recipe(recipe_name)
    if operation not in recipe.supports:
        offered = ", ".join(_OPERATIONS[name] for name in sorted(recipe.supports) if name in _OPERATIONS)
        raise ServingError(
            f"Model '{slug}' uses the recipe '{recipe.name}', which does not offer {_OPERATIONS[operation]}; "
            f"it offers {offered}.",
            code="unsupported",
            details={"recipe": recipe.name, "supports": sorted(recipe.supports)},
        )


def _local_cache_seconds() -> float:
    return settings.PLATFORM["LOCAL_CACHE_SECONDS"]


# What may change between requests is re-read at most once a second per process.
_tenant_facts: TtlCache[Any] = TtlCache(_local_cache_seconds)  # keys, erased users, inactive items
# The fallback's popularity ranking moves slowly: a minute is fresh enough.
_popular: TtlCache[list[tuple[str, int]]] = TtlCache(60)


def _stored_user(tenant: Tenant, user_id: object) -> tuple[str, bool]:
    """``(stored id, erased?)`` for a raw user id, without a query once warm."""
    keys = _tenant_facts.get(("keys", tenant.pk), lambda: tenant_keys(tenant))
    stored_id = keys.user_key(str(user_id))
    erased = _tenant_facts.get(("erased", tenant.pk), lambda: selectors.erased_user_digests(tenant))
    return stored_id, keys.digest(stored_id) in erased


def _popular_items(tenant: Tenant, dataset_id: int) -> list[tuple[str, int]]:
    """The dataset's items by interaction count (the fallback)."""

    def read() -> list[tuple[str, int]]:
        dataset = data_selectors.datasets_of(tenant).filter(pk=dataset_id).first()
        return selectors.popular_items(dataset) if dataset else []

    return _popular.get((tenant.pk, dataset_id), read)


def _popularity_scores(tenant: Tenant, dataset_id: int) -> list[tuple[str, float]]:
    """``[(item_id, score)]`` most popular first, the score being the item's share of the top item's
    interactions: 1.0 for the most popular, between 0 and 1 for the rest (see docs/api.md, "Scores")."""
    ranked = _popular_items(tenant, dataset_id)
    top = ranked[0][1] if ranked else 1
    return [(item_id, count / top) for item_id, count in ranked]


def _fallback(
    tenant: Tenant, served: ServedModel, k: int, excluded: set[str], allowed: set[str] | None
) -> list[tuple[str, float]]:
    items = [
        (item_id, score)
        for item_id, score in _popularity_scores(tenant, served.dataset_id)
        if item_id not in excluded and (allowed is None or item_id in allowed)
    ]
    return items[:k]


def _filters(
    tenant: Tenant, seen: set[str], exclude_seen: bool, exclude: Iterable[str], categories: Iterable[str]
) -> tuple[set[str], set[str] | None]:
    inactive = _tenant_facts.get(("inactive", tenant.pk), lambda: data_selectors.inactive_item_ids(tenant))
    excluded = set(exclude) | inactive
    if exclude_seen:
        excluded |= seen
    allowed = data_selectors.item_ids_in_categories(tenant, categories) if categories else None
    return excluded, allowed


def _answer(
    served: ServedModel,
    user_id: str | None,
    items: Sequence[tuple[str, float | None]],
    fallback: dict[str, str] | None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "model": served.slug,
        "version": served.version_number,
        "user_id": user_id,
        "items": [
            {"item_id": item_id, "score": None if score is None else round(float(score), 6)} for item_id, score in items
        ],
        "fallback": fallback,
        "request_id": uuid.uuid4().hex,
        "recommendation_id": feedback.record_impression(served, user_id, items),
        **extra,
    }


@feedback.guarded
def recommend(
    tenant: Tenant,
    slug: str,
    user_id: str,
    *,
    k: int = 10,
    exclude_seen: bool = True,
    exclude: Iterable[str] = (),
    categories: Iterable[str] = (),
    explain: bool = False,
) -> dict[str, Any]:
    """Top ``k`` items for ``user_id`` from the deployed version of ``slug`` (or the user's experiment arm)."""
    served = feedback.route(tenant, slug, user_id)
    require_operation(slug, served.recipe, "recommend")
    stored_id, erased = _stored_user(tenant, user_id)
    if erased:
        excluded, allowed = _filters(tenant, set(), False, exclude, categories)
        items = _fallback(tenant, served, k, excluded, allowed)
        return _answer(served, user_id, items, {"kind": "popularity", "reason": "erased_user"})
    seen = data_selectors.seen_item_ids(tenant, stored_id)
    excluded, allowed = _filters(tenant, seen, exclude_seen, exclude, categories)
    if served.scorer is None:
        items = _fallback(tenant, served, k, excluded, allowed)
        return _answer(served, user_id, items, {"kind": "popularity", "reason": "no_deployment"})
    if getattr(served.scorer, "uses_order", False):
        answer = _from_recent_events(tenant, served, user_id, stored_id, k, excluded, allowed, exclude_seen)
        if answer is not None:
            return answer
    try:
        items = served.scorer.recommend(
            stored_id,
            k,
            exclude_item_ids=excluded,
            allowed_item_ids=allowed,
            history_item_ids=seen,
            exclude_seen=exclude_seen,
        )
    except ml.UnknownUser:
        items = _fallback(tenant, served, k, excluded, allowed)
        return _answer(served, user_id, items, {"kind": "popularity", "reason": "unknown_user"})
    items, explored = feedback.explore(tenant, served.config_id, items, k, excluded=excluded | seen, allowed=allowed)
    # What of the user's current history the model read, events sent since training included (popularity reads none).
    facts = {} if served.scorer.scores_anyone else {"history": served.scorer.history_facts(stored_id, seen)}
    answer = _answer(served, user_id, items, None, **facts)
    for entry in answer["items"]:
        if entry["item_id"] in explored:
            entry["explored"] = True
    if explain:
        for entry in answer["items"]:
            if entry.get("explored"):  # new to the model: nothing in the history supports it yet
                entry["because"] = []
                continue
            because = served.scorer.explain(stored_id, entry["item_id"], seen, n=3)
            entry["because"] = [{"item_id": item_id, "weight": round(weight, 6)} for item_id, weight in because]
    return answer


def _from_recent_events(
    tenant: Tenant,
    served: ServedModel,
    user_id: str,
    stored_id: str,
    k: int,
    excluded: set[str],
    allowed: set[str] | None,
    exclude_seen: bool,
) -> dict[str, Any] | None:
    """A sequence-aware model's answer from the user's latest events, sent after training included.

    None when none of those events is on an item the model knows (the caller
    then asks the model about the user as trained, or falls back).
    """
    # A sequence-aware scorer (the caller checked uses_order): what else it reads depends on its recipe.
    scorer: Any = served.scorer
    context: dict[str, Any] = {}
    if getattr(scorer, "reads_context", False):  # sasrec trained with event types or time gaps
        recent, event_types, times, total = data_selectors.recent_events(tenant, stored_id, limit=scorer.max_history)
        context = {"event_types": event_types, "timestamps": times}
    else:
        recent, total = data_selectors.recent_item_ids(tenant, stored_id, limit=scorer.max_history)
    session = scorer.recommend_session(
        recent, k, exclude_item_ids=excluded, allowed_item_ids=allowed, exclude_seen=exclude_seen, **context
    )
    if not session.used:
        return None
    history = {
        "events_used": session.used,
        "unknown_items": session.unknown,
        "left_out": total - len(recent) + session.left_out,
        "max_history": session.max_history,
    }
    return _answer(served, user_id, session.items, None, history=history)


def recommend_session(
    tenant: Tenant,
    slug: str,
    item_ids: Iterable[Any],
    *,
    timestamps: Sequence[datetime] | None = None,
    event_types: Sequence[str] | None = None,
    k: int = 10,
    exclude_seen: bool = True,
    exclude: Iterable[str] = (),
    categories: Iterable[str] = (),
) -> dict[str, Any]:
    """Top ``k`` items for an anonymous session: its recent item ids, oldest first, and no user id.

    With ``timestamps`` (datetimes, one per item) the events are put in time
    order first; they and ``event_types`` (one per item) feed models trained
    to read them (sasrec with ``time_gaps`` or ``event_types``).
    Unknown item ids are ignored and counted; a model with a maximum history
    reads the latest events only; a session with no usable item gets the
    popularity fallback, flagged ``empty_session``.
    """
    served = feedback.route(tenant, slug, None)
    require_operation(slug, served.recipe, "recommend")
    item_ids = [str(item_id) for item_id in item_ids]
    seconds: list[float] | None = None
    if timestamps:
        times = [moment.timestamp() for moment in timestamps]
        order = sorted(range(len(item_ids)), key=lambda n: (times[n], n))
        item_ids, seconds = [item_ids[n] for n in order], [times[n] for n in order]
        event_types = [event_types[n] for n in order] if event_types else event_types
    excluded, allowed = _filters(tenant, set(item_ids), exclude_seen, exclude, categories)
    facts = {"events": len(item_ids), "events_used": 0, "unknown_items": None, "left_out": 0, "max_history": None}
    if served.scorer is None:
        items = _fallback(tenant, served, k, excluded, allowed)
        return _answer(served, None, items, {"kind": "popularity", "reason": "no_deployment"}, session=facts)
    if not hasattr(served.scorer, "recommend_session"):
        raise ServingError(f"Model '{served.slug}' makes predictions, not recommendations.", code="unsupported")
    try:
        session = served.scorer.recommend_session(
            item_ids, k, exclude_item_ids=excluded, allowed_item_ids=allowed, exclude_seen=exclude_seen,
            event_types=event_types or None, timestamps=seconds,
        )  # fmt: skip
    except ml.UnsupportedOperation as exc:
        raise ServingError(str(exc), code="unsupported") from exc
    facts.update(events_used=session.used, unknown_items=session.unknown, left_out=session.left_out,
                 max_history=session.max_history)  # fmt: skip
    if not session.used:
        items = _fallback(tenant, served, k, excluded, allowed)
        return _answer(served, None, items, {"kind": "popularity", "reason": "empty_session"}, session=facts)
    return _answer(served, None, session.items, None, session=facts)


def similar_items(
    tenant: Tenant, slug: str, item_id: str, *, k: int = 10, exclude: Iterable[str] = (), categories: Iterable[str] = ()
) -> dict[str, Any]:
    """Top ``k`` items like ``item_id``."""
    served = feedback.route(tenant, slug, None)
    require_operation(slug, served.recipe, "similar_items")
    excluded, allowed = _filters(tenant, set(), False, exclude, categories)
    excluded.add(item_id)
    if served.scorer is None:
        items = _fallback(tenant, served, k, excluded, allowed)
        return _answer(served, None, items, {"kind": "popularity", "reason": "no_deployment"}, item_id=item_id)
    try:
        items = served.scorer.similar_items(item_id, k, exclude_item_ids=excluded, allowed_item_ids=allowed)
    except ml.UnknownItem:
        items = _fallback(tenant, served, k, excluded, allowed)
        return _answer(served, None, items, {"kind": "popularity", "reason": "unknown_item"}, item_id=item_id)
    except ml.UnsupportedOperation as exc:
        raise ServingError(str(exc), code="unsupported") from exc
    return _answer(served, None, items, None, item_id=item_id)


@feedback.guarded
def rank(tenant: Tenant, slug: str, user_id: str, item_ids: list[str]) -> dict[str, Any]:
    """``item_ids`` ordered best first for ``user_id``; items the model does not know go last."""
    served = feedback.route(tenant, slug, user_id)
    require_operation(slug, served.recipe, "rank")
    stored_id, erased = _stored_user(tenant, user_id)
    fallback, scores = None, None
    if served.scorer is not None and not erased:
        try:
            history: list[str] | set[str]
            if getattr(served.scorer, "uses_order", False):
                # Sequence-aware models rank from the latest events, in order.
                history, _ = data_selectors.recent_item_ids(tenant, stored_id, limit=served.scorer.max_history)
            else:
                history = data_selectors.seen_item_ids(tenant, stored_id)
            scores = served.scorer.score(stored_id, item_ids, history_item_ids=history)
        except ml.UnknownUser:
            fallback = {"kind": "popularity", "reason": "unknown_user"}
        except ml.UnsupportedOperation as exc:
            raise ServingError(str(exc), code="unsupported") from exc
    else:
        reason = "no_deployment" if served.scorer is None else "erased_user"
        fallback = {"kind": "popularity", "reason": reason}
    if scores is None:
        popularity = dict(_popularity_scores(tenant, served.dataset_id))
        scores = [popularity.get(item_id) for item_id in item_ids]
    order = sorted(
        range(len(item_ids)), key=lambda i: (scores[i] is None, -(scores[i] if scores[i] is not None else 0), i)
    )
    return _answer(served, user_id, [(item_ids[i], scores[i]) for i in order], fallback)


def predict(tenant: Tenant, slug: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Predictions of a tabular model for each row, in order."""
    served = served_model(tenant, slug)
    require_operation(slug, served.recipe, "predict")
    if served.scorer is None:
        raise ServingError("This model has no deployed version yet; train and deploy one first.", "no_deployment")
    try:
        predictions = served.scorer.predict(rows)
    except ml.PredictionInputError as exc:
        details = {"row": exc.row, "column": exc.column}
        raise ServingError(str(exc), code="invalid_row", details=details) from exc
    except ml.UnsupportedOperation as exc:
        raise ServingError(str(exc), code="unsupported") from exc
    return {
        "model": served.slug,
        "version": served.version_number,
        "predictions": predictions,
        "request_id": uuid.uuid4().hex,
    }
