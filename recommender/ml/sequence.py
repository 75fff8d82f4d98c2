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

import numpy as np

from .scorers import SCORER_CLASSES, RecommendationScorer, item_index_dtype

# Names of each transformer block's arrays (exported by sasrec_model.export_blocks).
BLOCK_ARRAYS = ("ln1_gamma", "ln1_beta", "wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo",
                "ln2_gamma", "ln2_beta", "w1", "b1", "w2", "b2")  # fmt: skip
LAYER_NORM_EPSILON = 1e-5
# Scale of session_knn's plain neighbour vote when successor votes lead.
_TIE_BREAK = 1e-3


def ordered_histories(user_index, item_index, timestamps, n_users: int, max_length: int | None):
    """Each user's events oldest first (timestamp, then row order), at most the latest ``max_length``.

    Returns CSR ``(indptr, indices)``; repeated items stay (a re-view is an event).
    """
    rows = np.arange(len(user_index))
    keys = (rows, user_index) if timestamps is None else (rows, timestamps, user_index)
    order = np.lexsort(keys)
    users, items = np.asarray(user_index)[order], np.asarray(item_index)[order]
    counts = np.bincount(users, minlength=n_users)
    starts = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    if max_length is None:
        return starts, items.astype(np.int32)
    # Position of each event counted from its user's latest (0 = latest).
    from_end = starts[users + 1] - 1 - np.arange(len(users))
    keep = from_end < max_length
    kept_counts = np.minimum(counts, max_length)
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(kept_counts, out=indptr[1:])
    return indptr, items[keep].astype(np.int32)


def layer_norm(values: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    mean = values.mean(axis=-1, keepdims=True)
    centred = values - mean
    variance = (centred * centred).mean(axis=-1, keepdims=True)
    return centred / np.sqrt(variance + LAYER_NORM_EPSILON) * gamma + beta


class _SequenceStateMixin:
    """Ordered per-user sequences kept beside the base state (for known users and evaluation)."""

    def _sequence(self, user_position: int) -> np.ndarray:
        start, end = self.sequence_indptr[user_position], self.sequence_indptr[user_position + 1]
        return self.sequence_indices[start:end].astype(np.int32)

    def _user_scores(self, user_position, history):
        # A known user is scored from their training sequence; anyone else from
        # the given history, whose order a set cannot carry (use recommend_session).
        positions = self._sequence(user_position) if user_position is not None else np.asarray(history, np.int32)
        return self._session_scores(positions[-self.max_history :])

    def score_users(self, user_positions):
        return np.stack([self._user_scores(int(position), None) for position in user_positions])

    def score(self, user_id, item_ids, *, history_item_ids=None):
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

    def __init__(self, recipe, user_ids, item_ids, history_indptr, history_indices, *, sequence_indptr,
                 sequence_indices, item_vectors, position_vectors, blocks, final_gamma, final_beta, heads):  # fmt: skip
        super().__init__(recipe, user_ids, item_ids, history_indptr, history_indices)
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

    def to_state(self):
        arrays = {
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
        return arrays, {"n_blocks": len(self.blocks), "heads": self.heads}

    @classmethod
    def from_state(cls, recipe, arrays, meta):
        blocks = [
            {name: arrays[f"block{number}_{name}"] for name in BLOCK_ARRAYS} for number in range(meta["n_blocks"])
        ]
        return cls(
            recipe, *cls._base_args(arrays), sequence_indptr=arrays["sequence_indptr"],
            sequence_indices=arrays["sequence_indices"], item_vectors=arrays["item_vectors"],
            position_vectors=arrays["position_vectors"], blocks=blocks, final_gamma=arrays["final_gamma"],
            final_beta=arrays["final_beta"], heads=meta["heads"],
        )  # fmt: skip

    def encode(self, positions: np.ndarray) -> np.ndarray:
        """The transformer's output at the latest event of ``positions`` (oldest first, at most max_history)."""
        length = len(positions)
        # Keras left-pads to max_history, so the latest event always has the last position.
        hidden = self.item_vectors[positions] + self.position_vectors[self.max_history - length :]
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

    def _session_scores(self, positions):
        return self.item_vectors @ self.encode(positions[-self.max_history :])

    def _item_similarities(self, item_position):
        return self._similar_candidate_scores(item_position, slice(None))

    def ann_vectors(self):
        return self.item_vectors

    def _query_vector(self, user_position, history):
        positions = self._sequence(user_position) if user_position is not None else np.asarray(history, np.int32)
        return self._session_query_vector(positions)

    def _session_query_vector(self, positions):
        return self.encode(np.asarray(positions)[-self.max_history :])

    def _item_query_vector(self, item_position):
        # Similar items rank by cosine; the inner-product index is asked with the
        # unit vector and its candidates are re-scored by cosine.
        return self.item_vectors[item_position] / self._item_norms[item_position]

    def _similar_candidate_scores(self, item_position, candidates):
        return (self.item_vectors[candidates] @ self._item_query_vector(item_position)) / self._item_norms[candidates]

    def _similar_from_products(self, candidates, products):
        return products / self._item_norms[candidates]


class SessionKnnScorer(_SequenceStateMixin, RecommendationScorer):
    """Session nearest neighbours over the training users' histories; see the module docstring."""

    kind = "session_knn"
    uses_order = True
    scores_from_history = True

    def __init__(self, recipe, user_ids, item_ids, history_indptr, history_indices, *, sequence_indptr,
                 sequence_indices, neighbors, max_history, position_decay, successors=0):  # fmt: skip
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

    def to_state(self):
        arrays = {**self._base_state(), "sequence_indptr": self.sequence_indptr,
                  "sequence_indices": self.sequence_indices}  # fmt: skip
        meta = {"neighbors": self.neighbors, "max_history": self.max_history, "position_decay": self.position_decay,
                "successors": self.successors}  # fmt: skip
        return arrays, meta

    @classmethod
    def from_state(cls, recipe, arrays, meta):
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

    def _vote_successors(self, scores, candidates, similarity, session_weight) -> None:
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

    def _session_scores(self, positions):
        return self.session_scores(positions)

    def score_users(self, user_positions):
        return np.stack(
            [self.session_scores(self._sequence(int(user)), skip_user=int(user)) for user in user_positions]
        )

    def _user_scores(self, user_position, history):
        if user_position is None:
            return self.session_scores(np.asarray(history, np.int32))
        return self.session_scores(self._sequence(user_position), skip_user=user_position)

    def _item_similarities(self, item_position):
        return self.session_scores(np.array([item_position]))


SCORER_CLASSES.update({cls.kind: cls for cls in (SequenceScorer, SessionKnnScorer)})
