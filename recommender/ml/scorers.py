"""Numpy-only scorers that serve trained models.

Nothing here may import TensorFlow or Keras, directly or indirectly: web and
worker processes load artifacts with numpy alone.  Every scorer precomputes
what it can at construction so one request is a few vectorised operations
over the catalogue followed by ``np.argpartition``.

Recommendation scorers keep each training user's distinct items so that
``recommend`` can leave out what the user already has (``exclude_seen``).
Scores are "higher is better" within one scorer and are not probabilities.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Self

import numpy as np
from numpy.typing import ArrayLike

from .encoding import FeatureEncoder
from .errors import UnknownItem, UnknownUser, UnsupportedOperation
from .placing import ItemPlacer

if TYPE_CHECKING:
    from .ann import ItemIndex

ACTIVATIONS = ("relu", "tanh", "gelu", "linear")
# Rough per-id cost of the Python dict that maps ids to positions.
_DICT_ENTRY_BYTES = 100


# Above this many ids a scorer finds positions by binary search over its sorted ids instead of a dict:
# a dict and its strings cost about 150 bytes an id in every web process (150 MB at a million items).
DICT_MAX_IDS = 100_000


class SortedIds:
    """Id to position, read-only like a dict, by binary search over the sorted ids: no Python object per id."""

    def __init__(self, ids: np.ndarray) -> None:
        self._order = np.argsort(ids, kind="stable")
        self._sorted = ids[self._order]

    def get(self, key: str, default: int | None = None) -> int | None:
        index = int(np.searchsorted(self._sorted, key))
        if index < len(self._sorted) and self._sorted[index] == key:
            return int(self._order[index])
        return default

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        return self.get(key) is not None

    def __getitem__(self, key: str) -> int:
        position = self.get(key)
        if position is None:
            raise KeyError(key)
        return position

    def __len__(self) -> int:
        return len(self._sorted)


class IdSequence:
    """Position to id (a ``str``) over the ids array, instead of a list of as many Python strings."""

    def __init__(self, ids: np.ndarray) -> None:
        self._ids = ids

    def __getitem__(self, position: int) -> str:
        return str(self._ids[position])

    def __len__(self) -> int:
        return len(self._ids)


def id_positions(ids: np.ndarray) -> dict | SortedIds:
    """Id to position: a dict (fastest) up to DICT_MAX_IDS ids, binary search beyond."""
    if len(ids) > DICT_MAX_IDS:
        return SortedIds(ids)
    return {key: position for position, key in enumerate(ids.tolist())}


def id_sequence(ids: np.ndarray) -> list[str] | IdSequence:
    """Position to id: a list up to DICT_MAX_IDS ids, the array itself beyond."""
    return IdSequence(ids) if len(ids) > DICT_MAX_IDS else ids.tolist()


def item_index_dtype(n_items: int) -> np.dtype:
    """The narrowest integer type for item positions: every web process holds many of them."""
    return np.dtype(np.uint16) if n_items <= np.iinfo(np.uint16).max else np.dtype(np.int32)


class Scorer:
    """Common interface; each recipe's scorer implements the operations it supports."""

    kind = ""
    task = ""

    def __init__(self, recipe: str) -> None:
        self.recipe = recipe

    @property
    def nbytes(self) -> int:
        """Approximate memory held, for sizing a bounded scorer cache."""
        arrays, _ = self.to_state()
        return int(sum(array.nbytes for array in arrays.values()))

    def to_state(self) -> tuple[dict[str, np.ndarray], dict]:
        """Arrays and JSON metadata from which ``from_state`` rebuilds this scorer."""
        raise NotImplementedError

    @classmethod
    def from_state(cls, recipe: str, arrays: dict[str, np.ndarray], meta: dict) -> Scorer:
        raise NotImplementedError

    def _unsupported(self, operation: str) -> UnsupportedOperation:
        return UnsupportedOperation(f"recipe {self.recipe!r} does not support {operation}")

    def knows_user(self, user_id: str) -> bool:
        raise self._unsupported("recommendations")

    def recommend(
        self,
        user_id: str,
        k: int = 10,
        *,
        exclude_item_ids: Iterable[str] = (),
        allowed_item_ids: Iterable[str] | None = None,
        history_item_ids: Iterable[str] | None = None,
        exclude_seen: bool = True,
    ) -> list[tuple[str, float]]:
        raise self._unsupported("recommend")

    def similar_items(
        self,
        item_id: str,
        k: int = 10,
        *,
        exclude_item_ids: Iterable[str] = (),
        allowed_item_ids: Iterable[str] | None = None,
    ) -> list[tuple[str, float]]:
        raise self._unsupported("similar_items")

    def score(
        self, user_id: str, item_ids: Iterable[str], *, history_item_ids: Iterable[str] | None = None
    ) -> list[float | None]:
        raise self._unsupported("score")

    def explain(
        self, user_id: str, item_id: str, history_item_ids: Iterable[str] | None, n: int = 3
    ) -> list[tuple[str, float]]:
        return []

    def predict(self, rows: Sequence[dict]) -> list[dict]:
        raise self._unsupported("predict")


@dataclass
class SessionAnswer:
    """Recommendations for an ordered list of recent items, and what of the list was used."""

    items: list[tuple[str, float]]
    used: int  # events that fed the model (0: nothing usable, the caller falls back)
    unknown: int  # ids the model does not know, ignored
    left_out: int  # known events older than the latest ``max_history``, ignored
    max_history: int  # the most events this model reads


# Events a session may feed a model that declares no history length of its own.
DEFAULT_SESSION_HISTORY = 200


class RecommendationScorer(Scorer):
    """Shared id handling, filtering and top-k selection for recommenders."""

    task = "recommendation"
    # Whether users unknown at training time can be scored: from
    # history_item_ids, or (popularity) with no information at all.
    scores_from_history = False
    scores_anyone = False
    # Sequence-aware scorers read the order of recent events (latest last) and
    # at most ``max_history`` of them; the others treat a session as a set.
    uses_order = False
    max_history: int | None = None
    # Turns a catalogue row into an item vector (recipes whose item tower reads text set it);
    # None: items added after training wait for the next training.
    placer = None
    # Items served beside the trained ones, placed from their catalogue rows (see with_items).
    placed_items = 0

    def __init__(
        self,
        recipe: str,
        user_ids: ArrayLike,
        item_ids: ArrayLike,
        history_indptr: ArrayLike,
        history_indices: ArrayLike,
    ) -> None:
        super().__init__(recipe)
        self.user_ids = np.asarray(user_ids, dtype=str)
        self.item_ids = np.asarray(item_ids, dtype=str)
        self.history_indptr = np.asarray(history_indptr, dtype=np.int64)
        self.history_indices = np.asarray(history_indices, dtype=item_index_dtype(len(self.item_ids)))
        self._user_position = id_positions(self.user_ids)
        self._item_id_list = id_sequence(self.item_ids)
        self._item_position = id_positions(self.item_ids)
        # An ann.ItemIndex over ann_vectors(), attached by load_scorer when the artifact has one.
        self.item_index: ItemIndex | None = None
        # How requests were answered since loading: through the index, or by exact search after it.
        self.retrieval_counts = {"ann": 0, "exact_fallback": 0}

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def nbytes(self) -> int:
        mapped_ids = len(self.user_ids) + len(self.item_ids)
        return super().nbytes + mapped_ids * _DICT_ENTRY_BYTES

    def _base_state(self) -> dict[str, np.ndarray]:
        return {
            "user_ids": self.user_ids,
            "item_ids": self.item_ids,
            "history_indptr": self.history_indptr,
            "history_indices": self.history_indices,
        }

    @staticmethod
    def _base_args(arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return (arrays["user_ids"], arrays["item_ids"], arrays["history_indptr"], arrays["history_indices"])

    def _placer_state(self) -> tuple[dict[str, np.ndarray], dict]:
        """The placer's arrays and ``{"placer": meta}`` to merge into to_state's; empty without one."""
        if self.placer is None:
            return {}, {}
        arrays, meta = self.placer.to_state()
        return arrays, {"placer": meta}

    def _with_placer_from(self, arrays: Mapping[str, np.ndarray], meta: dict) -> Self:
        if meta.get("placer") is not None:
            self.placer = ItemPlacer.from_state(arrays, meta["placer"])
        return self

    # -- items added after training ---------------------------------------------

    def knows_item(self, item_id: str) -> bool:
        return str(item_id) in self._item_position

    def with_items(self, rows: Sequence[tuple[str, Mapping]]) -> RecommendationScorer:
        """A copy that also serves the catalogue items ``rows`` (``(item_id, row)``) the model never saw.

        Each new item's vector comes from its text (and features) through the
        trained tower (:mod:`recommender.ml.placing`), so it gets scores and
        similar items at once. Known ids are skipped; without a placer, or
        nothing new, the scorer itself is returned. ``self`` never changes, so
        requests being answered by it are not disturbed.
        """
        new = {}
        for item_id, row in rows:
            if str(item_id) not in self._item_position:
                new[str(item_id)] = row
        if self.placer is None or not new:
            return self
        ids = list(new)
        vectors = self.placer.vectors(list(new.values()))
        placed = copy.copy(self)
        placed.item_ids = np.concatenate([self.item_ids, np.asarray(ids, dtype=str)])
        # Built the way __init__ builds them (a dict, or binary search above DICT_MAX_IDS), over the longer ids.
        placed._item_id_list = id_sequence(placed.item_ids)
        placed._item_position = id_positions(placed.item_ids)
        placed.placed_items = self.placed_items + len(ids)
        placed._append_item_vectors(vectors)
        return placed

    def _append_item_vectors(self, vectors: np.ndarray) -> None:
        """Extend this (copied) scorer's item arrays with placed items' vectors; only scorers with a placer."""
        raise NotImplementedError

    # -- hooks for subclasses -------------------------------------------------

    def _user_scores(self, user_position: int | None, history: np.ndarray) -> np.ndarray:
        """Scores over all items for a known user (position) or from history item positions."""
        raise NotImplementedError

    def _item_similarities(self, item_position: int) -> np.ndarray:
        raise self._unsupported("similar_items")

    # -- approximate retrieval (recommender/ml/ann.py) -------------------------
    # Scorers that rank by a query vector times an item matrix return that
    # matrix here; an index over it then proposes candidates, which the hooks
    # below score exactly.

    def ann_vectors(self) -> np.ndarray | None:
        """The item matrix whose inner products with a query rank items, or None (no index for this scorer)."""
        return None

    def ann_queries(self) -> np.ndarray | None:
        """Sample query vectors (users') to calibrate an index on, or None."""
        return None

    def _query_vector(self, user_position: int | None, history: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _session_query_vector(self, positions: np.ndarray) -> np.ndarray:
        return self._query_vector(None, np.unique(positions))

    def _indexed_vectors(self) -> np.ndarray:
        vectors = self.ann_vectors()
        if vectors is None:  # only scorers with vectors get an index
            raise TypeError(f"{type(self).__name__} has no item vectors to search")
        return vectors

    def _item_query_vector(self, item_position: int) -> np.ndarray:
        return self._indexed_vectors()[item_position]

    def _candidate_scores(self, query: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        return self._indexed_vectors()[candidates] @ query

    def _similar_candidate_scores(self, item_position: int, candidates: np.ndarray) -> np.ndarray:
        return self._candidate_scores(self._item_query_vector(item_position), candidates)

    def _similar_from_products(self, candidates: np.ndarray, products: np.ndarray) -> np.ndarray:
        """Similar-item scores from the index's inner products with the item's query vector."""
        return products

    # Whether ``top_k_of_known_user`` avoids a full score row (evaluation then uses it).
    has_fast_top_k = False

    def top_k_of_known_user(self, user_position: int, k: int, excluded: np.ndarray) -> np.ndarray:
        """Positions of a known user's top ``k`` items, training history and ``excluded`` left out."""
        seen = self.seen_positions(user_position)
        scores = np.array(self._user_scores(user_position, seen), dtype=np.float32)
        scores[seen] = -np.inf
        scores[excluded] = -np.inf
        return top_k_positions(scores, k)

    def score_users(self, user_positions: np.ndarray) -> np.ndarray:
        """Score matrix (len(user_positions), n_items) for known users; used by evaluation."""
        return np.stack(
            [self._user_scores(int(position), self.seen_positions(int(position))) for position in user_positions]
        )

    # -- public API -------------------------------------------------------------

    def knows_user(self, user_id: str) -> bool:
        return str(user_id) in self._user_position

    def history_facts(self, user_id: str, history_item_ids: Iterable[str] | None) -> dict:
        """What of a user's current history the model reads: items it knows (``events_used``), of those the
        ones it did not see in training and folds in now (``since_training``), and ids it does not know."""
        given = list(history_item_ids or ())
        known = np.unique(self._positions(given))
        user_position = self._user_position.get(str(user_id))
        trained = self.seen_positions(user_position) if user_position is not None else np.empty(0, np.int32)
        return {
            "events_used": int(len(np.union1d(known, trained))),
            "since_training": int(len(np.setdiff1d(known, trained))),
            "unknown_items": len(set(map(str, given))) - len(known),
            "left_out": 0,
            "max_history": None,
        }

    def fresh_positions(self, user_position: int | None, history: np.ndarray) -> np.ndarray:
        """The history items a known user did not have at training (events sent since), to fold in."""
        if user_position is None:
            return history
        return np.setdiff1d(history, self.seen_positions(user_position))

    def seen_positions(self, user_position: int) -> np.ndarray:
        start, end = self.history_indptr[user_position], self.history_indptr[user_position + 1]
        return self.history_indices[start:end]

    def recommend(
        self,
        user_id: str,
        k: int = 10,
        *,
        exclude_item_ids: Iterable[str] = (),
        allowed_item_ids: Iterable[str] | None = None,
        history_item_ids: Iterable[str] | None = None,
        exclude_seen: bool = True,
    ) -> list[tuple[str, float]]:
        """Top ``k`` (item_id, score) pairs, best first.

        ``history_item_ids`` are items the user interacted with after training;
        recipes that score from item history use them, and with ``exclude_seen``
        they are left out of the results together with the training history.
        """
        user_position, history = self._resolve_user(user_id, history_item_ids)
        excluded = self._positions(exclude_item_ids)
        if exclude_seen:
            excluded = np.concatenate([excluded, history])
        if self.item_index is not None:
            return self._ann_top_k(self._query_vector(user_position, history), k, excluded, allowed_item_ids)
        scores = self._user_scores(user_position, history)
        return self._top_k(scores, k, excluded, allowed_item_ids)

    def score(
        self, user_id: str, item_ids: Iterable[str], *, history_item_ids: Iterable[str] | None = None
    ) -> list[float | None]:
        """Scores for ``item_ids`` in the given order; None for items the model does not know."""
        user_position, history = self._resolve_user(user_id, history_item_ids)
        positions = [self._item_position.get(str(item_id)) for item_id in item_ids]
        if self.item_index is not None:
            # A large catalogue: score the named items only, not every item.
            known = np.array([position for position in positions if position is not None], dtype=np.int64)
            values = iter(self._candidate_scores(self._query_vector(user_position, history), known).tolist())
            return [None if position is None else float(next(values)) for position in positions]
        scores = self._user_scores(user_position, history)
        return [None if position is None else float(scores[position]) for position in positions]

    def similar_items(
        self,
        item_id: str,
        k: int = 10,
        *,
        exclude_item_ids: Iterable[str] = (),
        allowed_item_ids: Iterable[str] | None = None,
    ) -> list[tuple[str, float]]:
        position = self._item_position.get(str(item_id))
        if position is None:
            raise UnknownItem(item_id)
        excluded = np.append(self._positions(exclude_item_ids), position)
        if self.item_index is not None:
            query = self._item_query_vector(position)
            return self._ann_top_k(query, k, excluded, allowed_item_ids, similar_to=position)
        scores = self._item_similarities(position)
        return self._top_k(scores, k, excluded, allowed_item_ids)

    def recommend_session(
        self,
        item_ids: Sequence[str],
        k: int = 10,
        *,
        exclude_item_ids: Iterable[str] = (),
        allowed_item_ids: Iterable[str] | None = None,
        exclude_seen: bool = True,
        event_types: Sequence | None = None,
        timestamps: Sequence | None = None,
    ) -> SessionAnswer:
        """Top ``k`` for a session given as item ids, oldest first, without a user id.

        Unknown ids are ignored and counted; only the latest ``max_history``
        known events are used. ``used == 0`` means nothing could be scored.
        ``event_types`` and ``timestamps`` (unix seconds), one per item, feed
        models trained to read them (sasrec's optional inputs); others ignore them.
        """
        lookup = self._item_position
        kept = [n for n, key in enumerate(map(str, item_ids)) if key in lookup]
        limit = self.max_history or DEFAULT_SESSION_HISTORY
        left_out = max(0, len(kept) - limit)
        kept = kept[left_out:]
        positions = np.asarray([lookup[str(item_ids[n])] for n in kept], dtype=np.int32)
        answer = SessionAnswer(
            items=[], used=len(positions), unknown=len(item_ids) - len(kept) - left_out, left_out=left_out,
            max_history=limit,
        )  # fmt: skip
        if len(positions) == 0:
            return answer
        context = (
            None if event_types is None else [event_types[n] for n in kept],
            None if timestamps is None else [timestamps[n] for n in kept],
        )
        excluded = self._positions(exclude_item_ids)
        if exclude_seen:
            excluded = np.concatenate([excluded, positions])
        if self.item_index is not None:
            answer.items = self._ann_top_k(
                self._context_query_vector(positions, *context), k, excluded, allowed_item_ids
            )
            return answer
        scores = self._context_scores(positions, *context)
        answer.items = self._top_k(scores, k, excluded, allowed_item_ids)
        return answer

    def _context_query_vector(
        self, positions: np.ndarray, event_types: Sequence | None, timestamps: Sequence | None
    ) -> np.ndarray:
        """The index's query for a session given each event's type and time; most scorers read neither."""
        return self._session_query_vector(positions)

    def _context_scores(
        self, positions: np.ndarray, event_types: Sequence | None, timestamps: Sequence | None
    ) -> np.ndarray:
        """Session scores given each event's type and time (None: not given); most scorers read neither."""
        return self._session_scores(positions)

    def _session_scores(self, positions: np.ndarray) -> np.ndarray:
        """Scores over all items for a non-empty ordered list of item positions."""
        if not (self.scores_from_history or self.scores_anyone):
            raise self._unsupported("session recommendations (it scores known users only)")
        return self._user_scores(None, np.unique(positions))

    # -- helpers ------------------------------------------------------------------

    def _resolve_user(self, user_id: str, history_item_ids: Iterable[str] | None) -> tuple[int | None, np.ndarray]:
        user_position = self._user_position.get(str(user_id))
        extra = self._positions(history_item_ids or ())
        if user_position is None:
            if not self.scores_anyone and (not self.scores_from_history or len(extra) == 0):
                raise UnknownUser(user_id)
            return None, np.unique(extra)
        return user_position, np.union1d(self.seen_positions(user_position), extra).astype(np.int32)

    def _history_for_explain(self, user_id: str, history_item_ids: Iterable[str] | None) -> np.ndarray:
        if history_item_ids:
            return np.unique(self._positions(history_item_ids))
        user_position = self._user_position.get(str(user_id))
        return self.seen_positions(user_position) if user_position is not None else np.empty(0, np.int32)

    def _positions(self, item_ids: Iterable) -> np.ndarray:
        lookup = self._item_position
        positions = [lookup[key] for key in map(str, item_ids) if key in lookup]
        return np.asarray(positions, dtype=np.int32)

    def _top_k(
        self, scores: np.ndarray, k: int, excluded: np.ndarray, allowed_item_ids: Iterable[str] | None
    ) -> list[tuple[str, float]]:
        scores = np.array(scores, dtype=np.float32)
        scores[excluded] = -np.inf
        if allowed_item_ids is not None:
            candidates = np.unique(self._positions(allowed_item_ids))
        else:
            candidates = None
        chosen = top_k_positions(scores, k, candidates)
        return [(self._item_id_list[position], float(scores[position])) for position in chosen]

    def _ann_top_k(
        self,
        query: np.ndarray,
        k: int,
        excluded: np.ndarray,
        allowed_item_ids: Iterable[str] | None,
        *,
        similar_to: int | None = None,
    ) -> list[tuple[str, float]]:
        """Top ``k`` among the index's candidates for ``query`` (items like ``similar_to``, when given).

        Over-fetches (``k × OVERFETCH`` plus the excluded items), drops excluded
        and filtered items, and searches exactly among the allowed items (or the
        whole catalogue) when fewer than ``k`` remain. The index's inner
        products are exact, so the answer's scores are the exact path's.
        """
        from .ann import OVERFETCH  # noqa: PLC0415 - keeps faiss-free scorers free of the module

        index = self.item_index
        if index is None:
            raise TypeError("_ann_top_k needs a loaded index")

        excluded = np.unique(excluded)
        allowed = None if allowed_item_ids is None else np.unique(self._positions(allowed_item_ids))
        candidates, products = index.search(query, k * OVERFETCH + len(excluded))
        if self.n_items > index.n_items:
            # Items placed after training are not in the index: their few inner products are computed here.
            placed = np.arange(index.n_items, self.n_items)
            candidates = np.concatenate([candidates, placed])
            products = np.concatenate([products, self._candidate_scores(query, placed)])
        keep = ~np.isin(candidates, excluded)
        if allowed is not None:
            keep &= np.isin(candidates, allowed)
        available = self.n_items - len(excluded) if allowed is None else len(np.setdiff1d(allowed, excluded))
        if int(keep.sum()) >= min(k, available):
            self.retrieval_counts["ann"] += 1
            candidates, scores = candidates[keep], products[keep]
            if similar_to is not None:
                scores = self._similar_from_products(candidates, scores)
        else:
            # Filters left too few of the index's answer: exact search where they allow.
            self.retrieval_counts["exact_fallback"] += 1
            pool = np.arange(self.n_items) if allowed is None else allowed
            candidates = pool[~np.isin(pool, excluded)]
            if similar_to is None:
                scores = self._candidate_scores(query, candidates)
            else:
                scores = self._similar_candidate_scores(similar_to, candidates)
        scores = np.asarray(scores, dtype=np.float32)
        chosen = top_k_positions(scores, k)
        return [(self._item_id_list[candidates[i]], float(scores[i])) for i in chosen]

    def _ranked_history_items(self, weights: np.ndarray, history: np.ndarray, n: int) -> list[tuple[str, float]]:
        """The ``n`` history items with the largest positive weight, best first."""
        order = np.argsort(-weights, kind="stable")[:n]
        return [(self._item_id_list[history[i]], float(weights[i])) for i in order if weights[i] > 0]


# Events since training weigh n / (n + FOLD_IN_PRIOR) against the trained user representation: one new
# event a third, four two thirds. The newest events are what the user does now, so they weigh quickly.
FOLD_IN_PRIOR = 2.0


def fold_in(trained: np.ndarray, recent: np.ndarray, n_recent: int) -> np.ndarray:
    """The trained user representation moved towards that of ``n_recent`` events sent since training."""
    weight = n_recent / (n_recent + FOLD_IN_PRIOR)
    return ((1.0 - weight) * trained + weight * recent).astype(np.float32)


def top_k_positions(scores: np.ndarray, k: int, candidates: np.ndarray | None = None) -> np.ndarray:
    """Positions of the ``k`` highest finite scores, best first (``-inf`` marks excluded)."""
    pool = scores if candidates is None else scores[candidates]
    k = min(int(k), len(pool))
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    # argpartition is O(n); only the k winners get fully sorted.
    best = np.argpartition(-pool, k - 1)[:k] if k < len(pool) else np.arange(len(pool))
    best = best[np.argsort(-pool[best], kind="stable")]
    best = best[np.isfinite(pool[best])]
    return best if candidates is None else candidates[best]


class PopularityScorer(RecommendationScorer):
    """Same ranking for everyone; also the fallback for users nobody knows."""

    kind = "popularity"
    scores_anyone = True

    def __init__(
        self,
        recipe: str,
        user_ids: ArrayLike,
        item_ids: ArrayLike,
        history_indptr: ArrayLike,
        history_indices: ArrayLike,
        item_scores: ArrayLike,
    ) -> None:
        super().__init__(recipe, user_ids, item_ids, history_indptr, history_indices)
        self.item_scores = np.asarray(item_scores, dtype=np.float32)

    def to_state(self) -> tuple[dict[str, np.ndarray], dict]:
        return {**self._base_state(), "item_scores": self.item_scores}, {}

    @classmethod
    def from_state(cls, recipe: str, arrays: dict[str, np.ndarray], meta: dict) -> Self:
        return cls(recipe, *cls._base_args(arrays), arrays["item_scores"])

    def _user_scores(self, user_position: int | None, history: np.ndarray) -> np.ndarray:
        return self.item_scores

    def score_users(self, user_positions: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.item_scores, (len(user_positions), self.n_items))

    has_fast_top_k = True

    def top_k_of_known_user(self, user_position: int, k: int, excluded: np.ndarray) -> np.ndarray:
        if not hasattr(self, "_ranking"):
            # One ranking for everyone: best first, ties by position (as top_k_positions breaks them).
            self._ranking = np.argsort(-self.item_scores, kind="stable")
        skip = np.union1d(self.seen_positions(user_position), excluded)
        head = self._ranking[: k + len(skip)]
        return head[~np.isin(head, skip)][:k]


class ItemItemScorer(RecommendationScorer):
    """Scores are sums of rows of a sparse item-item weight matrix (EASE's B, pruned per row).

    Row ``i`` holds how much having item ``i`` adds to every other item, as CSR
    ``(weight_indptr, weight_indices, weight_values)`` with sorted indices.
    """

    kind = "item_item"
    scores_from_history = True

    def __init__(self, recipe: str, user_ids: ArrayLike, item_ids: ArrayLike, history_indptr: ArrayLike,
                 history_indices: ArrayLike, weight_indptr: ArrayLike, weight_indices: ArrayLike,
                 weight_values: ArrayLike) -> None:  # fmt: skip
        super().__init__(recipe, user_ids, item_ids, history_indptr, history_indices)
        self.weight_indptr = np.asarray(weight_indptr, dtype=np.int64)
        self.weight_indices = np.asarray(weight_indices, dtype=item_index_dtype(self.n_items))
        self.weight_values = np.asarray(weight_values, dtype=np.float32)

    def to_state(self) -> tuple[dict[str, np.ndarray], dict]:
        arrays = {
            **self._base_state(),
            "weight_indptr": self.weight_indptr,
            "weight_indices": self.weight_indices,
            "weight_values": self.weight_values,
        }
        return arrays, {}

    @classmethod
    def from_state(cls, recipe: str, arrays: dict[str, np.ndarray], meta: dict) -> Self:
        return cls(
            recipe, *cls._base_args(arrays), arrays["weight_indptr"], arrays["weight_indices"], arrays["weight_values"]
        )

    def _rows(self, item_positions: np.ndarray) -> np.ndarray:
        """Positions in the CSR arrays of every stored weight of the given rows."""
        item_positions = np.asarray(item_positions, dtype=np.int64)
        starts, ends = self.weight_indptr[item_positions], self.weight_indptr[item_positions + 1]
        lengths = ends - starts
        total = int(lengths.sum())
        if total == 0:
            return np.empty(0, dtype=np.int64)
        # Each row's run start, repeated along the run, plus the offset within the run.
        run_starts = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
        return run_starts + np.arange(total, dtype=np.int64)

    @staticmethod
    def _reached_scores(targets: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The distinct items stored weights reach, ascending, and the sum of the weights reaching each."""
        reached, inverse = np.unique(targets, return_inverse=True)
        return reached, np.bincount(inverse, weights=values, minlength=len(reached)).astype(np.float32)

    def _sparse_top_k(
        self,
        targets: np.ndarray,
        values: np.ndarray,
        k: int,
        excluded: np.ndarray,
        allowed_item_ids: Iterable[str] | None,
    ) -> list[tuple[str, float]] | None:
        """Top ``k`` among the items reached by stored weights, or None when fewer than ``k`` score above 0.

        Every other item scores exactly 0, so when ``k`` reached items score
        above 0 after filtering they are the dense top ``k`` too: the work is
        proportional to the history times the kept neighbours, not the catalogue.
        """
        reached, sums = self._reached_scores(targets, values)
        keep = sums > 0
        if len(excluded):
            keep &= ~np.isin(reached, excluded)
        if allowed_item_ids is not None:
            keep &= np.isin(reached, self._positions(allowed_item_ids))
        if int(keep.sum()) < k:
            return None
        reached, sums = reached[keep], sums[keep]
        chosen = top_k_positions(sums, k)
        return [(self._item_id_list[reached[i]], float(sums[i])) for i in chosen]

    def recommend(
        self,
        user_id: str,
        k: int = 10,
        *,
        exclude_item_ids: Iterable[str] = (),
        allowed_item_ids: Iterable[str] | None = None,
        history_item_ids: Iterable[str] | None = None,
        exclude_seen: bool = True,
    ) -> list[tuple[str, float]]:
        user_position, history = self._resolve_user(user_id, history_item_ids)
        stored = self._rows(history)
        excluded = self._positions(exclude_item_ids)
        if exclude_seen:
            excluded = np.concatenate([excluded, history])
        found = self._sparse_top_k(
            self.weight_indices[stored], self.weight_values[stored], k, excluded, allowed_item_ids
        )
        if found is not None:
            return found
        scores = self._user_scores(user_position, history)
        return self._top_k(scores, k, excluded, allowed_item_ids)

    def similar_items(
        self,
        item_id: str,
        k: int = 10,
        *,
        exclude_item_ids: Iterable[str] = (),
        allowed_item_ids: Iterable[str] | None = None,
    ) -> list[tuple[str, float]]:
        position = self._item_position.get(str(item_id))
        if position is None:
            raise UnknownItem(item_id)
        stored = self._rows(np.array([position]))
        excluded = np.append(self._positions(exclude_item_ids), position)
        found = self._sparse_top_k(
            self.weight_indices[stored], self.weight_values[stored], k, excluded, allowed_item_ids
        )
        if found is not None:
            return found
        return super().similar_items(item_id, k, exclude_item_ids=exclude_item_ids, allowed_item_ids=allowed_item_ids)

    def _user_scores(self, user_position: int | None, history: np.ndarray) -> np.ndarray:
        stored = self._rows(history)
        return np.bincount(
            self.weight_indices[stored], weights=self.weight_values[stored], minlength=self.n_items
        ).astype(np.float32)

    def score_users(self, user_positions: np.ndarray) -> np.ndarray:
        return np.stack([self._user_scores(None, self.seen_positions(int(position))) for position in user_positions])

    has_fast_top_k = True

    def top_k_of_known_user(self, user_position: int, k: int, excluded: np.ndarray) -> np.ndarray:
        seen = self.seen_positions(user_position)
        stored = self._rows(seen)
        reached, sums = self._reached_scores(self.weight_indices[stored], self.weight_values[stored])
        keep = (sums > 0) & ~np.isin(reached, seen) & ~np.isin(reached, excluded)
        if int(keep.sum()) >= k:
            return reached[keep][top_k_positions(sums[keep], k)]
        return super().top_k_of_known_user(user_position, k, excluded)

    def _item_similarities(self, item_position: int) -> np.ndarray:
        scores = np.zeros(self.n_items, dtype=np.float32)
        stored = self._rows(np.array([item_position]))
        scores[self.weight_indices[stored]] = self.weight_values[stored]
        return scores

    def _weight(self, source: int, target: int) -> float:
        start, end = self.weight_indptr[source], self.weight_indptr[source + 1]
        found = start + np.searchsorted(self.weight_indices[start:end], target)
        return float(self.weight_values[found]) if found < end and self.weight_indices[found] == target else 0.0

    def explain(
        self, user_id: str, item_id: str, history_item_ids: Iterable[str] | None, n: int = 3
    ) -> list[tuple[str, float]]:
        """History items whose weight towards ``item_id`` is largest."""
        target = self._item_position.get(str(item_id))
        if target is None:
            raise UnknownItem(item_id)
        history = self._history_for_explain(user_id, history_item_ids)
        history = history[history != target]
        weights = np.array([self._weight(int(source), target) for source in history], dtype=np.float32)
        return self._ranked_history_items(weights, history, n)


class EmbeddingScorer(RecommendationScorer):
    """Dot products of L2-normalised user and item tower outputs (two_tower)."""

    kind = "embedding"
    scores_from_history = True

    def __init__(
        self,
        recipe: str,
        user_ids: ArrayLike,
        item_ids: ArrayLike,
        history_indptr: ArrayLike,
        history_indices: ArrayLike,
        user_vectors: ArrayLike,
        item_vectors: ArrayLike,
    ) -> None:
        super().__init__(recipe, user_ids, item_ids, history_indptr, history_indices)
        self.user_vectors = np.asarray(user_vectors, dtype=np.float32)
        self.item_vectors = np.asarray(item_vectors, dtype=np.float32)

    def to_state(self) -> tuple[dict[str, np.ndarray], dict]:
        placer_arrays, placer_meta = self._placer_state()
        arrays = {**self._base_state(), "user_vectors": self.user_vectors, "item_vectors": self.item_vectors}
        return {**arrays, **placer_arrays}, placer_meta

    @classmethod
    def from_state(cls, recipe: str, arrays: dict[str, np.ndarray], meta: dict) -> Self:
        scorer = cls(recipe, *cls._base_args(arrays), arrays["user_vectors"], arrays["item_vectors"])
        return scorer._with_placer_from(arrays, meta)

    def _append_item_vectors(self, vectors: np.ndarray) -> None:
        self.item_vectors = np.concatenate([self.item_vectors, vectors.astype(np.float32)])

    def _user_scores(self, user_position: int | None, history: np.ndarray) -> np.ndarray:
        return self.item_vectors @ self._query_vector(user_position, history)

    def score_users(self, user_positions: np.ndarray) -> np.ndarray:
        return self.user_vectors[user_positions] @ self.item_vectors.T

    def _item_similarities(self, item_position: int) -> np.ndarray:
        return self.item_vectors @ self.item_vectors[item_position]

    def ann_vectors(self) -> np.ndarray:
        return self.item_vectors

    def ann_queries(self) -> np.ndarray:
        return self.user_vectors

    def _query_vector(self, user_position: int | None, history: np.ndarray) -> np.ndarray:
        if user_position is None:
            # Users unseen in training are represented by the mean of their items.
            return _unit(self.item_vectors[history].mean(axis=0))
        vector = self.user_vectors[user_position]
        fresh = self.fresh_positions(user_position, history)
        if len(fresh):
            # Events since training fold in without retraining: the mean of their items' vectors (the
            # representation unseen users get) pulls the trained vector towards them, more the more there are.
            vector = _unit(fold_in(vector, _unit(self.item_vectors[fresh].mean(axis=0)), len(fresh)))
        return vector

    def explain(
        self, user_id: str, item_id: str, history_item_ids: Iterable[str] | None, n: int = 3
    ) -> list[tuple[str, float]]:
        """History items most similar to ``item_id`` in the item tower's space."""
        target = self._item_position.get(str(item_id))
        if target is None:
            raise UnknownItem(item_id)
        history = self._history_for_explain(user_id, history_item_ids)
        history = history[history != target]
        return self._ranked_history_items(self.item_vectors[history] @ self.item_vectors[target], history, n)


class NeuMFScorer(RecommendationScorer):
    """Numpy re-implementation of the NeuMF forward pass (GMF and MLP towers fused)."""

    kind = "neumf"

    def __init__(
        self,
        recipe: str,
        user_ids: ArrayLike,
        item_ids: ArrayLike,
        history_indptr: ArrayLike,
        history_indices: ArrayLike,
        *,
        gmf_user: ArrayLike,
        gmf_item: ArrayLike,
        mlp_user: ArrayLike,
        mlp_item: ArrayLike,
        kernels: Sequence[ArrayLike],
        biases: Sequence[ArrayLike],
        output_kernel: ArrayLike,
        output_bias: ArrayLike,
    ) -> None:
        super().__init__(recipe, user_ids, item_ids, history_indptr, history_indices)
        self.gmf_user = np.asarray(gmf_user, dtype=np.float32)
        self.gmf_item = np.asarray(gmf_item, dtype=np.float32)
        self.mlp_user = np.asarray(mlp_user, dtype=np.float32)
        self.mlp_item = np.asarray(mlp_item, dtype=np.float32)
        self.kernels = [np.asarray(kernel, dtype=np.float32) for kernel in kernels]
        self.biases = [np.asarray(bias, dtype=np.float32) for bias in biases]
        self.output_kernel = np.asarray(output_kernel, dtype=np.float32).reshape(-1)
        self.output_bias = float(np.asarray(output_bias).reshape(-1)[0])
        gmf_dim, mlp_dim = self.gmf_user.shape[1], self.mlp_user.shape[1]
        # The first MLP layer sees concat(user, item): split its kernel so the
        # item half is multiplied once here instead of on every request.
        self._first_user_kernel = self.kernels[0][:mlp_dim]
        # Per request the tower runs feature-major (a row per hidden unit, a
        # column per item): BLAS multiplies these short, wide matrices about a
        # quarter faster than the tall, thin item-major ones (docs/benchmarks.md).
        self._first_item_part = np.ascontiguousarray((self.mlp_item @ self.kernels[0][mlp_dim:] + self.biases[0]).T)
        self._deeper_layers = [
            (np.ascontiguousarray(kernel.T), bias[:, np.newaxis])
            for kernel, bias in zip(self.kernels[1:], self.biases[1:], strict=True)
        ]
        # The GMF branch reaches the output through a linear layer, so fold
        # those output weights into the item embeddings.
        self._weighted_gmf_item = self.gmf_item * self.output_kernel[:gmf_dim]
        self._mlp_output_kernel = self.output_kernel[gmf_dim:]
        # NeuMF has no shared metric space; cosine over both item embeddings
        # is a usable proxy for similar_items.
        item_vectors = np.concatenate([self.gmf_item, self.mlp_item], axis=1)
        self._item_unit_vectors = item_vectors / (np.linalg.norm(item_vectors, axis=1, keepdims=True) + 1e-12)

    @property
    def nbytes(self) -> int:
        derived = (self._first_item_part, self._weighted_gmf_item, self._item_unit_vectors)
        return super().nbytes + sum(array.nbytes for array in derived)

    def to_state(self) -> tuple[dict[str, np.ndarray], dict]:
        arrays = {
            **self._base_state(),
            "gmf_user": self.gmf_user,
            "gmf_item": self.gmf_item,
            "mlp_user": self.mlp_user,
            "mlp_item": self.mlp_item,
            "output_kernel": self.output_kernel,
            "output_bias": np.array([self.output_bias], dtype=np.float32),
        }
        for layer, (kernel, bias) in enumerate(zip(self.kernels, self.biases, strict=True)):
            arrays[f"kernel_{layer}"] = kernel
            arrays[f"bias_{layer}"] = bias
        return arrays, {"n_layers": len(self.kernels)}

    @classmethod
    def from_state(cls, recipe: str, arrays: dict[str, np.ndarray], meta: dict) -> Self:
        layers = range(meta["n_layers"])
        return cls(
            recipe,
            *cls._base_args(arrays),
            gmf_user=arrays["gmf_user"],
            gmf_item=arrays["gmf_item"],
            mlp_user=arrays["mlp_user"],
            mlp_item=arrays["mlp_item"],
            kernels=[arrays[f"kernel_{layer}"] for layer in layers],
            biases=[arrays[f"bias_{layer}"] for layer in layers],
            output_kernel=arrays["output_kernel"],
            output_bias=arrays["output_bias"],
        )

    def _item_user_profiles(self) -> tuple[np.ndarray, np.ndarray]:
        """Per item, the mean GMF and MLP user embeddings of the training users who had it (built once,
        on the first fold-in): NeuMF has no item vector in the users' space, so this stands in for one."""
        if not hasattr(self, "_profiles"):
            owners = np.repeat(np.arange(len(self.history_indptr) - 1), np.diff(self.history_indptr))
            items = self.history_indices.astype(np.int64)
            counts = np.maximum(np.bincount(items, minlength=self.n_items), 1)[:, np.newaxis].astype(np.float32)
            profiles = []
            for users in (self.gmf_user, self.mlp_user):
                total = np.zeros((self.n_items, users.shape[1]), dtype=np.float32)
                np.add.at(total, items, users[owners])
                profiles.append(total / counts)
            self._profiles = (profiles[0], profiles[1])
        return self._profiles

    def _user_scores(self, user_position: int | None, history: np.ndarray) -> np.ndarray:
        gmf_user, mlp_user = self.gmf_user[user_position], self.mlp_user[user_position]
        fresh = self.fresh_positions(user_position, history)
        if len(fresh):
            # Events since training fold in without retraining: the user's embeddings move towards those of
            # the users who had the new items, more the more new items there are.
            gmf_profiles, mlp_profiles = self._item_user_profiles()
            gmf_user = fold_in(gmf_user, gmf_profiles[fresh].mean(axis=0), len(fresh))
            mlp_user = fold_in(mlp_user, mlp_profiles[fresh].mean(axis=0), len(fresh))
        # In-place additions and ReLUs: this runs per request over the whole catalogue.
        user_part = mlp_user @ self._first_user_kernel
        hidden = self._first_item_part + user_part[:, np.newaxis]
        np.maximum(hidden, 0.0, out=hidden)
        for kernel, bias in self._deeper_layers:
            hidden = kernel @ hidden
            hidden += bias
            np.maximum(hidden, 0.0, out=hidden)
        scores = self._mlp_output_kernel @ hidden
        scores += self._weighted_gmf_item @ gmf_user
        scores += self.output_bias
        return scores

    def _item_similarities(self, item_position: int) -> np.ndarray:
        return self._item_unit_vectors @ self._item_unit_vectors[item_position]


class PredictorScorer(Scorer):
    """Encoder plus dense network for tabular classification or regression."""

    kind = "predictor"
    task = "prediction"

    def __init__(
        self,
        recipe: str,
        *,
        encoder: FeatureEncoder,
        kernels: Sequence[np.ndarray],
        biases: Sequence[np.ndarray],
        activation: str,
        classes: list | None = None,
        target_mean: float = 0.0,
        target_std: float = 1.0,
    ) -> None:
        super().__init__(recipe)
        if activation not in ACTIVATIONS:
            raise ValueError(f"unsupported activation {activation!r}")
        self.encoder = encoder
        self.kernels = [np.asarray(kernel, dtype=np.float32) for kernel in kernels]
        self.biases = [np.asarray(bias, dtype=np.float32) for bias in biases]
        self.activation = activation
        self.classes = list(classes) if classes is not None else None
        self.target_mean = float(target_mean)
        self.target_std = float(target_std)

    @property
    def is_classifier(self) -> bool:
        return self.classes is not None

    def to_state(self) -> tuple[dict[str, np.ndarray], dict]:
        arrays = {}
        for layer, (kernel, bias) in enumerate(zip(self.kernels, self.biases, strict=True)):
            arrays[f"kernel_{layer}"] = kernel
            arrays[f"bias_{layer}"] = bias
        meta = {
            "n_layers": len(self.kernels),
            "encoder": self.encoder.to_state(),
            "activation": self.activation,
            "classes": self.classes,
            "target_mean": self.target_mean,
            "target_std": self.target_std,
        }
        return arrays, meta

    @classmethod
    def from_state(cls, recipe: str, arrays: dict[str, np.ndarray], meta: dict) -> Self:
        layers = range(meta["n_layers"])
        return cls(
            recipe,
            encoder=FeatureEncoder.from_state(meta["encoder"]),
            kernels=[arrays[f"kernel_{layer}"] for layer in layers],
            biases=[arrays[f"bias_{layer}"] for layer in layers],
            activation=meta["activation"],
            classes=meta["classes"],
            target_mean=meta["target_mean"],
            target_std=meta["target_std"],
        )

    def predict_encoded(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities (n, n_classes) or predicted values (n,) for encoded rows."""
        hidden = np.asarray(features, dtype=np.float32)
        for kernel, bias in zip(self.kernels[:-1], self.biases[:-1], strict=True):
            hidden = activate(hidden @ kernel + bias, self.activation)
        output = hidden @ self.kernels[-1] + self.biases[-1]
        if self.is_classifier:
            return softmax(output)
        return output[:, 0] * self.target_std + self.target_mean

    def predict(self, rows: Sequence[dict]) -> list[dict]:
        """One result per row: ``{"label", "probabilities"}`` or ``{"value"}``."""
        if len(rows) == 0:
            return []
        outputs = self.predict_encoded(self.encoder.transform_rows(rows))
        classes = self.classes
        if classes is None:
            return [{"value": float(value)} for value in outputs]
        results = []
        for probabilities in outputs:
            results.append(
                {
                    "label": classes[int(np.argmax(probabilities))],
                    "probabilities": {str(label): float(p) for label, p in zip(classes, probabilities, strict=True)},
                }
            )
        return results


def activate(values: np.ndarray, activation: str) -> np.ndarray:
    """The activations Keras uses, in numpy (gelu is the exact erf form, as in Keras 3)."""
    if activation == "relu":
        return np.maximum(values, 0.0)
    if activation == "tanh":
        return np.tanh(values)
    if activation == "gelu":
        return 0.5 * values * (1.0 + _erf(values / np.sqrt(2.0)))
    return values


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _erf(values: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26: |error| < 1.5e-7, well inside float32 parity tolerance.
    sign = np.sign(values)
    x = np.abs(values)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-x * x))


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / (np.linalg.norm(vector) + 1e-12)


SCORER_CLASSES: dict[str, type[Scorer]] = {
    cls.kind: cls for cls in (PopularityScorer, ItemItemScorer, EmbeddingScorer, NeuMFScorer, PredictorScorer)
}
