"""Numpy serving of the sequence-aware recipes: ``sasrec`` and ``session_knn``.

Both score a user from the *order* of their latest events (oldest first,
latest last), not from the set of everything they ever touched:

* :class:`SequenceScorer` is the numpy forward pass of the SASRec transformer
  (Kang & McAuley 2018): item plus position embeddings, pre-norm blocks of
  causal multi-head self-attention and a ReLU feed-forward layer, a final
  layer norm; the last position's output is dotted with every item
  embedding.  It is held to the Keras model within 1e-4 (tests/ml/test_parity.py).
* :class:`SessionKnnScorer` is the session nearest-neighbour baseline
  (V-SKNN, Ludewig et al. 2021): past users whose items overlap the session
  (recent events weigh more) vote for their items.

Like the other scorers this module imports numpy only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Self

import numpy as np
from numpy.typing import ArrayLike

from .scorers import SCORER_CLASSES, RecommendationScorer, item_index_dtype

# Names of each transformer block's arrays (exported by sasrec_model.export_blocks).
BLOCK_ARRAYS = ("ln1_gamma", "ln1_beta", "wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo",
                "ln2_gamma", "ln2_beta", "w1", "b1", "w2", "b2")  # fmt: skip
LAYER_NORM_EPSILON = 1e-5
# Optional per-event inputs of sasrec (index 0 pads). Event types: 1 is a type training did not see,
# 2... the training vocabulary. Time gaps: 1 is "no earlier event read" (a sequence's first event),
# then 2 + floor(log2(1 + seconds since the previous event)), the last bucket holding every longer gap.
UNKNOWN_CONTEXT = 1
TIME_GAP_BUCKETS = 28
# Scale of session_knn's plain neighbour vote when successor votes lead.
_TIE_BREAK = 1e-3


def ordered_histories(
    user_index: np.ndarray, item_index: np.ndarray, timestamps: np.ndarray | None, n_users: int, max_length: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Each user's events oldest first (timestamp, then row order), at most the latest ``max_length``.

    Returns CSR ``(indptr, indices)``; repeated items stay (a re-view is an event).
    """
    indptr, items = ordered_values(user_index, item_index, timestamps, n_users, max_length)
    return indptr, items.astype(np.int32)


def ordered_values(
    user_index: np.ndarray, values: Any, timestamps: np.ndarray | None, n_users: int, max_length: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-event ``values`` (items, event types, times) in the order of :func:`ordered_histories`, as CSR."""
    rows = np.arange(len(user_index))
    keys = (rows, user_index) if timestamps is None else (rows, timestamps, user_index)
    order = np.lexsort(keys)
    users, values = np.asarray(user_index)[order], np.asarray(values)[order]
    counts = np.bincount(users, minlength=n_users)
    starts = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    if max_length is None:
        return starts, values
    # Position of each event counted from its user's latest (0 = latest).
    from_end = starts[users + 1] - 1 - np.arange(len(users))
    keep = from_end < max_length
    kept_counts = np.minimum(counts, max_length)
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(kept_counts, out=indptr[1:])
    return indptr, values[keep]


def gaps_per_sequence(indptr: np.ndarray, times: np.ndarray) -> np.ndarray:
    """:func:`time_gap_buckets` of each CSR sequence of ``times`` (each sequence's first gap unknown)."""
    gaps = np.full(len(times), UNKNOWN_CONTEXT, dtype=np.int32)
    for start, end in zip(indptr[:-1].tolist(), indptr[1:].tolist(), strict=True):
        gaps[start:end] = time_gap_buckets(times[start:end])
    return gaps


def time_gap_buckets(timestamps: ArrayLike) -> np.ndarray:
    """The gap bucket of each event of one sequence (oldest first, unix seconds); the first is unknown."""
    times = np.asarray(timestamps, dtype=np.float64)
    buckets = np.full(len(times), UNKNOWN_CONTEXT, dtype=np.int32)
    if len(times) > 1:
        gaps = np.diff(times)
        finite = np.isfinite(gaps)
        logs = np.floor(np.log2(1.0 + np.maximum(np.where(finite, gaps, 0.0), 0.0)))
        buckets[1:] = np.where(finite, np.minimum(2 + logs, TIME_GAP_BUCKETS - 1), UNKNOWN_CONTEXT)
    return buckets


def event_type_indices(event_types: Any, vocabulary: dict[str, int]) -> np.ndarray:
    """Each event type's embedding row (2... known, 1 unknown or missing)."""
    return np.array([vocabulary.get(str(kind), UNKNOWN_CONTEXT) for kind in event_types], dtype=np.int32)


def layer_norm(values: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    mean = values.mean(axis=-1, keepdims=True)
    centred = values - mean
    variance = (centred * centred).mean(axis=-1, keepdims=True)
    return centred / np.sqrt(variance + LAYER_NORM_EPSILON) * gamma + beta


class _SequenceStateMixin(RecommendationScorer):
    """Ordered per-user sequences kept beside the base state (for known users and evaluation)."""

    # Set by each sequence scorer's constructor.
    sequence_indptr: np.ndarray
    sequence_indices: np.ndarray
    max_history: int

    def _sequence(self, user_position: int) -> np.ndarray:
        start, end = self.sequence_indptr[user_position], self.sequence_indptr[user_position + 1]
        return self.sequence_indices[start:end].astype(np.int32)

    def _user_scores(self, user_position: int | None, history: np.ndarray) -> np.ndarray:
        # A known user is scored from their training sequence; anyone else from
        # the given history, whose order a set cannot carry (use recommend_session).
        positions = self._sequence(user_position) if user_position is not None else np.asarray(history, np.int32)
        return self._session_scores(positions[-self.max_history :])

    def score_users(self, user_positions: np.ndarray) -> np.ndarray:
        # A known user is scored from their own sequence: no extra history.
        no_history = np.empty(0, np.int32)
        return np.stack([self._user_scores(int(position), no_history) for position in user_positions])

    def score(
        self, user_id: str, item_ids: Iterable[str], *, history_item_ids: Iterable[str] | None = None
    ) -> list[float | None]:
        """With ``history_item_ids`` as a list (the user's latest events, oldest first) scores follow them."""
        if isinstance(history_item_ids, (list, tuple)):
            positions = self._positions(history_item_ids)
            if len(positions):
                scores = self._session_scores(positions[-self.max_history :])
                lookup = self._item_position
                return [None if (p := lookup.get(str(item))) is None else float(scores[p]) for item in item_ids]
        return super().score(user_id, item_ids, history_item_ids=history_item_ids)


class SequenceScorer(_SequenceStateMixin, RecommendationScorer):
    """SASRec's forward pass in numpy; see the module docstring."""

    kind = "sequence"
    uses_order = True
    scores_from_history = True

    def __init__(self, recipe: str, user_ids: ArrayLike, item_ids: ArrayLike, history_indptr: ArrayLike,
                 history_indices: ArrayLike, *, sequence_indptr: ArrayLike, sequence_indices: ArrayLike,
                 item_vectors: ArrayLike, position_vectors: ArrayLike, blocks: Sequence[Mapping[str, ArrayLike]],
                 final_gamma: ArrayLike, final_beta: ArrayLike, heads: int, event_vectors: ArrayLike | None = None,
                 event_vocabulary: Sequence[str] = (), default_event: int = UNKNOWN_CONTEXT,
                 gap_vectors: ArrayLike | None = None, sequence_events: ArrayLike | None = None,
                 sequence_gaps: ArrayLike | None = None) -> None:  # fmt: skip
        super().__init__(recipe, user_ids, item_ids, history_indptr, history_indices)
        # Optional inputs: each event's type and the time since the one before, added to its item vector.
        self.event_vectors = None if event_vectors is None else np.asarray(event_vectors, dtype=np.float32)
        self.event_vocabulary = {str(kind): UNKNOWN_CONTEXT + 1 + n for n, kind in enumerate(event_vocabulary)}
        self.default_event = int(default_event)  # the most common type: for events given without one
        self.gap_vectors = None if gap_vectors is None else np.asarray(gap_vectors, dtype=np.float32)
        # Each training sequence's event types and gap buckets, aligned with sequence_indices.
        self.sequence_events = None if sequence_events is None else np.asarray(sequence_events, dtype=np.int8)
        self.sequence_gaps = None if sequence_gaps is None else np.asarray(sequence_gaps, dtype=np.int8)
        self.sequence_indptr = np.asarray(sequence_indptr, dtype=np.int64)
        self.sequence_indices = np.asarray(sequence_indices, dtype=item_index_dtype(self.n_items))
        self.item_vectors = np.asarray(item_vectors, dtype=np.float32)
        self.position_vectors = np.asarray(position_vectors, dtype=np.float32)
        self.blocks = [{name: np.asarray(block[name], dtype=np.float32) for name in BLOCK_ARRAYS} for block in blocks]
        self.final_gamma = np.asarray(final_gamma, dtype=np.float32)
        self.final_beta = np.asarray(final_beta, dtype=np.float32)
        self.heads = int(heads)
        self.max_history = len(self.position_vectors)
        dim = self.item_vectors.shape[1]
        if dim % self.heads:
            raise ValueError(f"embedding size {dim} is not divisible by {self.heads} heads")
        # Causal masks for every length up to max_history, built once.
        self._causal = np.tril(np.ones((self.max_history, self.max_history), dtype=bool))
        # Norms, not unit vectors: a second item matrix would double the memory a large catalogue takes.
        self._item_norms = np.linalg.norm(self.item_vectors, axis=1) + np.float32(1e-12)

    @property
    def nbytes(self) -> int:
        return super().nbytes + self._causal.nbytes + self._item_norms.nbytes

    @property
    def reads_context(self) -> bool:
        """Whether events' types or times change the answer (trained with event_types or time_gaps)."""
        return self.event_vectors is not None or self.gap_vectors is not None

    def to_state(self) -> tuple[dict[str, np.ndarray], dict]:
        arrays: dict[str, Any] = {
            **self._base_state(),
            "sequence_indptr": self.sequence_indptr,
            "sequence_indices": self.sequence_indices,
            "item_vectors": self.item_vectors,
            "position_vectors": self.position_vectors,
            "final_gamma": self.final_gamma,
            "final_beta": self.final_beta,
        }
        for number, block in enumerate(self.blocks):
            arrays.update({f"block{number}_{name}": value for name, value in block.items()})
        meta: dict[str, Any] = {"n_blocks": len(self.blocks), "heads": self.heads}
        if self.event_vectors is not None:
            arrays.update(event_vectors=self.event_vectors, sequence_events=self.sequence_events)
            meta.update(event_vocabulary=list(self.event_vocabulary), default_event=self.default_event)
        if self.gap_vectors is not None:
            arrays.update(gap_vectors=self.gap_vectors, sequence_gaps=self.sequence_gaps)
        placer_arrays, placer_meta = self._placer_state()
        return {**arrays, **placer_arrays}, {**meta, **placer_meta}

    @classmethod
    def from_state(cls, recipe: str, arrays: dict[str, np.ndarray], meta: dict) -> Self:
        blocks = [
            {name: arrays[f"block{number}_{name}"] for name in BLOCK_ARRAYS} for number in range(meta["n_blocks"])
        ]
        scorer = cls(
            recipe, *cls._base_args(arrays), sequence_indptr=arrays["sequence_indptr"],
            sequence_indices=arrays["sequence_indices"], item_vectors=arrays["item_vectors"],
            position_vectors=arrays["position_vectors"], blocks=blocks, final_gamma=arrays["final_gamma"],
            final_beta=arrays["final_beta"], heads=meta["heads"], event_vectors=arrays.get("event_vectors"),
            event_vocabulary=meta.get("event_vocabulary", ()), default_event=meta.get("default_event", UNKNOWN_CONTEXT),
            gap_vectors=arrays.get("gap_vectors"), sequence_events=arrays.get("sequence_events"),
            sequence_gaps=arrays.get("sequence_gaps"),
        )  # fmt: skip
        return scorer._with_placer_from(arrays, meta)

    def _append_item_vectors(self, vectors: np.ndarray) -> None:
        vectors = vectors.astype(np.float32)
        self.item_vectors = np.concatenate([self.item_vectors, vectors])
        self._item_norms = np.concatenate([self._item_norms, np.linalg.norm(vectors, axis=1) + np.float32(1e-12)])

    def encode(
        self, positions: np.ndarray, events: np.ndarray | None = None, gaps: np.ndarray | None = None
    ) -> np.ndarray:
        """The transformer's output at the latest event of ``positions`` (oldest first, at most max_history).

        ``events`` and ``gaps`` are the events' type and gap rows (see
        ``event_type_indices`` and ``time_gap_buckets``); left out, every event
        counts as of the most common type, its gap unknown.
        """
        length = len(positions)
        # Keras left-pads to max_history, so the latest event always has the last position.
        hidden = self.item_vectors[positions] + self.position_vectors[self.max_history - length :]
        if self.event_vectors is not None:
            hidden = hidden + self.event_vectors[np.full(length, self.default_event) if events is None else events]
        if self.gap_vectors is not None:
            hidden = hidden + self.gap_vectors[np.full(length, UNKNOWN_CONTEXT) if gaps is None else gaps]
        causal = self._causal[:length, :length]
        head_dim = hidden.shape[1] // self.heads
        for block in self.blocks:
            normed = layer_norm(hidden, block["ln1_gamma"], block["ln1_beta"])
            query, key, value = (
                (normed @ block[f"w{part}"] + block[f"b{part}"]).reshape(length, self.heads, -1).transpose(1, 0, 2)
                for part in "qkv"
            )
            logits = query @ key.transpose(0, 2, 1) / np.float32(np.sqrt(head_dim))
            logits = np.where(causal, logits, -np.inf)
            weights = np.exp(logits - logits.max(axis=-1, keepdims=True))
            weights /= weights.sum(axis=-1, keepdims=True)
            attended = (weights @ value).transpose(1, 0, 2).reshape(length, -1)
            hidden = hidden + attended @ block["wo"] + block["bo"]
            normed = layer_norm(hidden, block["ln2_gamma"], block["ln2_beta"])
            hidden = hidden + np.maximum(normed @ block["w1"] + block["b1"], 0.0) @ block["w2"] + block["b2"]
        return layer_norm(hidden[-1], self.final_gamma, self.final_beta)

    def _session_scores(
        self, positions: np.ndarray, events: np.ndarray | None = None, gaps: np.ndarray | None = None
    ) -> np.ndarray:
        return self.item_vectors @ self._session_query_vector(positions, events, gaps)

    def _user_scores(self, user_position: int | None, history: np.ndarray) -> np.ndarray:
        return self.item_vectors @ self._query_vector(user_position, history)

    def _context_query_vector(
        self, positions: np.ndarray, event_types: Sequence | None, timestamps: Sequence | None
    ) -> np.ndarray:
        events = gaps = None
        if self.event_vectors is not None and event_types is not None:
            events = event_type_indices(event_types, self.event_vocabulary)
        if self.gap_vectors is not None and timestamps is not None:
            # Gaps between the events the model reads: the first of them has no earlier one.
            gaps = time_gap_buckets(np.asarray(timestamps, dtype=np.float64)[-self.max_history :])
        return self._session_query_vector(positions, events, gaps)

    def _context_scores(
        self, positions: np.ndarray, event_types: Sequence | None, timestamps: Sequence | None
    ) -> np.ndarray:
        return self.item_vectors @ self._context_query_vector(positions, event_types, timestamps)

    def _item_similarities(self, item_position: int) -> np.ndarray:
        return self._similar_candidate_scores(item_position, slice(None))

    def ann_vectors(self) -> np.ndarray:
        return self.item_vectors

    def _query_vector(self, user_position: int | None, history: np.ndarray) -> np.ndarray:
        if user_position is None:
            return self._session_query_vector(np.asarray(history, np.int32))
        # A known user: their training sequence, with its event types and gaps for models that read them.
        start, end = self.sequence_indptr[user_position], self.sequence_indptr[user_position + 1]
        events = None if self.sequence_events is None else self.sequence_events[start:end].astype(np.int64)
        gaps = None if self.sequence_gaps is None else self.sequence_gaps[start:end].astype(np.int64)
        return self._session_query_vector(self._sequence(user_position), events, gaps)

    def _session_query_vector(
        self, positions: np.ndarray, events: np.ndarray | None = None, gaps: np.ndarray | None = None
    ) -> np.ndarray:
        n = min(len(positions), self.max_history)
        events = None if events is None else np.asarray(events)[-n:]
        gaps = None if gaps is None else np.asarray(gaps)[-n:]
        return self.encode(np.asarray(positions)[-n:], events, gaps)

    def _item_query_vector(self, item_position: int) -> np.ndarray:
        # Similar items rank by cosine; the inner-product index is asked with the
        # unit vector and its candidates are re-scored by cosine.
        return self.item_vectors[item_position] / self._item_norms[item_position]

    def _similar_candidate_scores(self, item_position: int, candidates: np.ndarray | slice) -> np.ndarray:
        return (self.item_vectors[candidates] @ self._item_query_vector(item_position)) / self._item_norms[candidates]

    def _similar_from_products(self, candidates: np.ndarray, products: np.ndarray) -> np.ndarray:
        return products / self._item_norms[candidates]


class SessionKnnScorer(_SequenceStateMixin, RecommendationScorer):
    """Session nearest neighbours over the training users' histories; see the module docstring."""

    kind = "session_knn"
    uses_order = True
    scores_from_history = True

    def __init__(self, recipe: str, user_ids: ArrayLike, item_ids: ArrayLike, history_indptr: ArrayLike,
                 history_indices: ArrayLike, *, sequence_indptr: ArrayLike, sequence_indices: ArrayLike,
                 neighbors: int, max_history: int, position_decay: bool, successors: int = 0) -> None:  # fmt: skip
        super().__init__(recipe, user_ids, item_ids, history_indptr, history_indices)
        self.sequence_indptr = np.asarray(sequence_indptr, dtype=np.int64)
        self.sequence_indices = np.asarray(sequence_indices, dtype=item_index_dtype(self.n_items))
        self.neighbors = int(neighbors)
        self.max_history = int(max_history)
        self.position_decay = bool(position_decay)
        self.successors = int(successors)
        # Inverted index: item -> training users who have it (derived, not saved).
        owners = np.repeat(np.arange(len(self.user_ids), dtype=np.int32), np.diff(self.history_indptr))
        order = np.argsort(self.history_indices, kind="stable")
        self._owners = owners[order]
        self._owner_indptr = np.zeros(self.n_items + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.history_indices, minlength=self.n_items), out=self._owner_indptr[1:])
        self._user_lengths = np.diff(self.history_indptr).astype(np.float32)
        self._excluded_neighbour: int | None = None

    @property
    def nbytes(self) -> int:
        return super().nbytes + self._owners.nbytes + self._owner_indptr.nbytes + self._user_lengths.nbytes

    def to_state(self) -> tuple[dict[str, np.ndarray], dict]:
        arrays = {**self._base_state(), "sequence_indptr": self.sequence_indptr,
                  "sequence_indices": self.sequence_indices}  # fmt: skip
        meta = {"neighbors": self.neighbors, "max_history": self.max_history, "position_decay": self.position_decay,
                "successors": self.successors}  # fmt: skip
        return arrays, meta

    @classmethod
    def from_state(cls, recipe: str, arrays: dict[str, np.ndarray], meta: dict) -> Self:
        return cls(recipe, *cls._base_args(arrays), sequence_indptr=arrays["sequence_indptr"],
                   sequence_indices=arrays["sequence_indices"], **meta)  # fmt: skip

    def session_scores(self, positions: np.ndarray, *, skip_user: int | None = None) -> np.ndarray:
        """Neighbour votes for every item; ``skip_user`` leaves a training user out of their own neighbours."""
        positions = np.asarray(positions, dtype=np.int64)[-self.max_history :]
        length = len(positions)
        recency = np.arange(1, length + 1, dtype=np.float32) / length if self.position_decay else np.ones(length)
        weight = np.zeros(self.n_items, dtype=np.float32)
        np.maximum.at(weight, positions, recency)  # an item's latest occurrence counts
        items = np.flatnonzero(weight)
        starts, ends = self._owner_indptr[items], self._owner_indptr[items + 1]
        owners = np.concatenate([self._owners[start:end] for start, end in zip(starts, ends, strict=True)])
        votes = np.repeat(weight[items], ends - starts)
        overlap = np.bincount(owners, weights=votes, minlength=len(self.user_ids))
        if skip_user is not None:
            overlap[skip_user] = 0.0
        candidates = np.flatnonzero(overlap)
        scores = np.zeros(self.n_items, dtype=np.float32)
        if len(candidates) == 0:
            return scores
        similarity = overlap[candidates] / np.sqrt(len(items) * self._user_lengths[candidates])
        if len(candidates) > self.neighbors:
            best = np.argpartition(-similarity, self.neighbors - 1)[: self.neighbors]
            candidates, similarity = candidates[best], similarity[best]
        starts, ends = self.history_indptr[candidates], self.history_indptr[candidates + 1]
        voted = np.concatenate([self.history_indices[start:end] for start, end in zip(starts, ends, strict=True)])
        scores += np.bincount(voted, weights=np.repeat(similarity, ends - starts), minlength=self.n_items).astype(
            np.float32
        )
        if self.successors:
            # The plain vote only breaks ties among items no neighbour did next.
            scores *= _TIE_BREAK / max(float(scores.max()), 1e-12)
            self._vote_successors(scores, candidates, similarity, weight)
        return scores

    def _vote_successors(
        self, scores: np.ndarray, candidates: np.ndarray, similarity: np.ndarray, session_weight: np.ndarray
    ) -> None:
        """Each neighbour votes for the items that followed its latest event shared with the session.

        The nearer an item follows, the more its vote counts (1, 1/2, 1/3...):
        what people did *next* carries the order the plain vote ignores.
        """
        decay = 1.0 / np.arange(1, self.successors + 1, dtype=np.float32)
        for user, user_similarity in zip(candidates.tolist(), similarity.tolist(), strict=True):
            sequence = self.sequence_indices[self.sequence_indptr[user] : self.sequence_indptr[user + 1]]
            match_weight = session_weight[sequence]
            if not match_weight.any():
                continue
            # The neighbour's event matching the session's most recent item (its latest occurrence).
            anchor = len(sequence) - 1 - int(np.argmax(match_weight[::-1]))
            following = sequence[anchor + 1 : anchor + 1 + self.successors]
            np.add.at(scores, following, user_similarity * decay[: len(following)])

    def _session_scores(self, positions: np.ndarray) -> np.ndarray:
        return self.session_scores(positions)

    def score_users(self, user_positions: np.ndarray) -> np.ndarray:
        return np.stack(
            [self.session_scores(self._sequence(int(user)), skip_user=int(user)) for user in user_positions]
        )

    def _user_scores(self, user_position: int | None, history: np.ndarray) -> np.ndarray:
        if user_position is None:
            return self.session_scores(np.asarray(history, np.int32))
        return self.session_scores(self._sequence(user_position), skip_user=user_position)

    def _item_similarities(self, item_position: int) -> np.ndarray:
        return self.session_scores(np.array([item_position]))


SCORER_CLASSES.update({cls.kind: cls for cls in (SequenceScorer, SessionKnnScorer)})
