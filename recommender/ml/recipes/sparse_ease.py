"""Sparse EASE: EASE restricted to each item's strongest co-occurring neighbours.

EASE's weights towards item ``i`` are a ridge regression of column ``i`` of the
user-item matrix on every other column.  Here each item is regressed on its
``neighbors`` most co-occurring items only: one small ``K x K`` solve per item
instead of inverting an ``items x items`` matrix.  Memory and time grow with
the co-occurring pairs (the sum of squared history lengths, each history capped
at ``max_history`` items) and with ``items x K^2``, never with the square of
the catalogue, so it trains where EASE cannot (docs/benchmarks.md, "Large
catalogues").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..params import Param
from ..progress import EpochReporter
from ..scorers import ItemItemScorer
from .base import BASE_PROCESS_BYTES, RECOMMENDATION, Estimate, FitResult, Recipe

if TYPE_CHECKING:
    from ..data import InteractionData
    from ..progress import TrainingCallbacks
    from ..selection import DataShape

# Item pairs enumerated per chunk of users, bounding the pair buffers (16 bytes a pair).
_PAIRS_PER_CHUNK = 8_000_000
# Measured on the 2-core development machine (docs/benchmarks.md, "Large catalogues").
_SECONDS_PER_PAIR = 1e-7
_SECONDS_PER_GRAM_ENTRY = 1e-7
# Gram entries looked up per batch of target items (a K x K system each), bounding memory.
_GRAM_ENTRIES_PER_BATCH = 2_000_000


class SparseEase(Recipe):
    name = "sparse_ease"
    task = RECOMMENDATION
    description = (
        "EASE restricted to each item's strongest co-occurring neighbours: trains in time and memory close to "
        "linear in the interactions, for catalogues too large for EASE."
    )
    supports = frozenset({"recommend", "similar_items", "rank", "explain"})
    main_param = "l2"
    params = (
        Param("l2", "float", 200.0, min=1.0, max=1e6,
              help="L2 regularisation of the item-item weights; larger suits sparser data."),
        Param("neighbors", "int", 100, min=5, max=1000,
              help="Most co-occurring items each item is regressed on (cost grows with its square)."),
        Param("max_history", "int", 500, min=10, max=100000,
              help="Only a user's latest this many distinct items count towards co-occurrence."),
        Param("serving_neighbors", "int", 200, min=10, max=5000,
              help="Weights kept per item for serving (largest in magnitude)."),
    )  # fmt: skip

    def estimate(self, shape: DataShape, params: dict) -> Estimate:
        # Co-occurring pairs: each user contributes about (history length)^2; with a skewed length
        # distribution the mean of squares is about twice the square of the mean.
        mean_history = min(shape.interactions / max(shape.users, 1), params["max_history"])
        pairs = shape.interactions * min(2 * mean_history, params["max_history"])
        distinct_pairs = min(pairs, shape.items * shape.items)
        k = min(params["neighbors"], max(shape.items - 1, 1))
        # Chunk buffers (key, count, sort scratch), the graph (column, count, key), Gram batches, neighbours.
        memory = (
            BASE_PROCESS_BYTES
            + shape.interactions * 48
            + min(pairs, _PAIRS_PER_CHUNK) * 40
            + distinct_pairs * 24
            + _GRAM_ENTRIES_PER_BATCH * 40
            + shape.items * k * 24
        )
        seconds = 1.0 + pairs * _SECONDS_PER_PAIR + shape.items * k * k * _SECONDS_PER_GRAM_ENTRY
        return Estimate(memory_bytes=int(memory), seconds=seconds)

    def fit(self, data: InteractionData, params: dict, *, seed: int, callbacks: TrainingCallbacks | None) -> FitResult:
        reporter = EpochReporter(callbacks, total_epochs=1)
        reporter.check_cancel()
        indptr, indices = data.user_history_csr()
        graph = cooccurrence(indptr, indices, data.n_items, max_history=params["max_history"])
        reporter.check_cancel()
        weights = local_ease_weights(graph, data.n_items, params["neighbors"], params["l2"])
        sparse = keep_largest_per_csr_row(*weights, params["serving_neighbors"])
        scorer = ItemItemScorer(self.name, data.user_ids, data.item_ids, indptr, indices, *sparse)
        reporter.epoch_done(1, {"loss": None}, last=True)
        return FitResult(scorer=scorer, history=reporter.history)


class CooccurrenceGraph:
    """Symmetric item co-occurrence counts as CSR (diagonal held apart as item popularity)."""

    def __init__(
        self, indptr: np.ndarray, indices: np.ndarray, counts: np.ndarray, popularity: np.ndarray, n_items: int
    ) -> None:
        self.indptr, self.indices, self.counts = indptr, indices, counts
        self.popularity = popularity
        self.n_items = n_items
        # Row-major keys of the stored pairs, sorted: lookups are one searchsorted.
        rows = np.repeat(np.arange(n_items, dtype=np.int64), np.diff(indptr))
        self.keys = rows * n_items + indices

    def lookup(self, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """Counts of the given (row, column) pairs; 0 where the items never co-occur."""
        wanted = rows.astype(np.int64) * self.n_items + columns
        found = np.searchsorted(self.keys, wanted)
        found[found == len(self.keys)] = 0
        hit = self.keys[found] == wanted
        return np.where(hit, self.counts[found], 0.0)


def cooccurrence(indptr: np.ndarray, indices: np.ndarray, n_items: int, *, max_history: int) -> CooccurrenceGraph:
    """Count, for every pair of distinct items, the users who have both (users' histories as CSR)."""
    lengths = np.diff(indptr)
    # Keep each user's last max_history items (CSR rows are item-sorted, so "last" is an arbitrary but
    # deterministic subset when the caller's order is lost).
    starts = np.maximum(indptr[:-1], indptr[1:] - max_history)
    lengths = indptr[1:] - starts
    popularity = np.zeros(n_items, dtype=np.float64)
    partial_keys, partial_counts = [], []
    pairs_per_user = lengths.astype(np.int64) ** 2
    first = 0
    n_users = len(lengths)
    while first < n_users:
        cumulative = np.cumsum(pairs_per_user[first:])
        last = first + max(1, int(np.searchsorted(cumulative, _PAIRS_PER_CHUNK, side="right")))
        keys = _pair_keys(indices, starts[first:last], lengths[first:last], n_items)
        unique, counts = np.unique(keys, return_counts=True)
        partial_keys.append(unique)
        partial_counts.append(counts)
        first = last
    for start, length in zip(starts, lengths, strict=True):
        popularity[indices[start : start + length]] += 1.0
    keys, counts = _merge_counts(partial_keys, partial_counts)
    rows = keys // n_items
    graph_indptr = np.zeros(n_items + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_items), out=graph_indptr[1:])
    return CooccurrenceGraph(graph_indptr, (keys % n_items), counts.astype(np.float64), popularity, n_items)


def _pair_keys(indices: np.ndarray, starts: np.ndarray, lengths: np.ndarray, n_items: int) -> np.ndarray:
    """``a * n_items + b`` for every ordered pair of distinct items within each user's history."""
    pair_counts = lengths.astype(np.int64) ** 2
    total = int(pair_counts.sum())
    user = np.repeat(np.arange(len(lengths)), pair_counts)
    offset = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(pair_counts) - pair_counts, pair_counts)
    length = lengths[user]
    a = indices[starts[user] + offset // length].astype(np.int64)
    b = indices[starts[user] + offset % length].astype(np.int64)
    distinct = a != b
    return a[distinct] * n_items + b[distinct]


def _merge_counts(keys: list[np.ndarray], counts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    if len(keys) == 1:
        return keys[0], counts[0]
    if not keys:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    all_keys = np.concatenate(keys)
    unique, inverse = np.unique(all_keys, return_inverse=True)
    return unique, np.bincount(inverse, weights=np.concatenate(counts)).astype(np.int64)


def strongest_neighbors(graph: CooccurrenceGraph, k: int) -> tuple[np.ndarray, CooccurrenceGraph]:
    """Each item's ``k`` most co-occurring items, ascending, as a ``(n_items, k)`` array padded with -1 at the end."""
    n_items = graph.n_items
    rows = np.repeat(np.arange(n_items), np.diff(graph.indptr))
    order = np.lexsort((graph.indices, -graph.counts, rows))
    rank = np.arange(len(order)) - graph.indptr[rows[order]]
    keep = order[rank < k]
    kept_rows = rows[keep]
    slot = np.arange(len(keep)) - np.repeat(
        np.concatenate([[0], np.cumsum(np.bincount(kept_rows, minlength=n_items))[:-1]]),
        np.bincount(kept_rows, minlength=n_items),
    )
    neighbors = np.full((n_items, k), n_items, dtype=np.int64)
    neighbors[kept_rows, slot] = graph.indices[keep]
    # Sorted rows make each item's Gram look-ups ascending keys, which searchsorted serves from cache.
    neighbors.sort(axis=1)
    neighbors[neighbors == n_items] = -1
    return neighbors, graph


def local_ease_weights(
    graph: CooccurrenceGraph, n_items: int, k: int, l2: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per target item, ridge weights on its ``k`` strongest neighbours; CSR by source item.

    Returns ``(indptr, indices, values)`` where row ``j`` lists how much having
    item ``j`` adds to each target (EASE's B, row = source).
    """
    neighbors, _ = strongest_neighbors(graph, k)
    counts = (neighbors >= 0).sum(axis=1)
    # Items with few neighbours are solved together in narrow systems: most of a long-tailed catalogue
    # has far fewer than k co-occurring items, and the cost grows with the square of the width.
    order = np.argsort(counts, kind="stable")
    order = order[counts[order] > 0]
    widths = counts[order].astype(np.int64)
    sources, targets, values = [], [], []
    first = 0
    while first < len(order):
        # The longest run from ``first`` whose padded systems (width of its last, widest item) fit the limit.
        ends = np.arange(first + 1, len(order) + 1)
        cost = (ends - first) * widths[ends - 1] ** 2
        last = first + max(1, int(np.searchsorted(cost, _GRAM_ENTRIES_PER_BATCH, side="right")))
        target = order[first:last]
        width = int(widths[last - 1])
        first = last
        block = neighbors[target, :width]
        sources_block, values_block = _solve_block(graph, block, target, l2)
        sources.append(sources_block)
        targets.append(np.repeat(target, (block >= 0).sum(axis=1)))
        values.append(values_block)
    if not sources:
        return np.zeros(n_items + 1, dtype=np.int64), np.empty(0, np.int32), np.empty(0, np.float32)
    source = np.concatenate(sources)
    target = np.concatenate(targets)
    value = np.concatenate(values).astype(np.float32)
    order = np.lexsort((target, source))
    indptr = np.zeros(n_items + 1, dtype=np.int64)
    np.cumsum(np.bincount(source, minlength=n_items), out=indptr[1:])
    return indptr, target[order].astype(np.int32), value[order]


def _solve_block(
    graph: CooccurrenceGraph, block: np.ndarray, target: np.ndarray, l2: float
) -> tuple[np.ndarray, np.ndarray]:
    """Ridge weights of each target on its neighbours in ``block`` (rows padded with -1)."""
    batch, width = block.shape
    valid = block >= 0
    safe = np.where(valid, block, 0)
    # Gram of each target's neighbours (padded slots become identity rows and columns). It is
    # symmetric, so only the upper triangle is looked up (ascending keys: neighbours are sorted).
    upper_rows, upper_columns = np.triu_indices(width, 1)
    upper = graph.lookup(safe[:, upper_rows].ravel(), safe[:, upper_columns].ravel()).reshape(batch, -1)
    upper *= valid[:, upper_rows] & valid[:, upper_columns]
    gram = np.zeros((batch, width, width))
    gram[:, upper_rows, upper_columns] = upper
    gram[:, upper_columns, upper_rows] = upper
    gram[:, np.arange(width), np.arange(width)] = np.where(valid, graph.popularity[safe] + l2, 1.0)
    rhs = graph.lookup(safe.ravel(), np.repeat(target, width)).reshape(batch, width) * valid
    solution = np.linalg.solve(gram, rhs[:, :, None])[:, :, 0]
    return block[valid], solution[valid]


def keep_largest_per_csr_row(
    indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At most ``n`` largest-magnitude entries of each CSR row, indices kept sorted."""
    n_rows = len(indptr) - 1
    rows = np.repeat(np.arange(n_rows), np.diff(indptr))
    order = np.lexsort((indices, -np.abs(values), rows))
    rank = np.arange(len(order)) - indptr[rows[order]]
    keep = np.sort(order[rank < n])  # back to (row, index) order
    kept_rows = rows[keep]
    new_indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(kept_rows, minlength=n_rows), out=new_indptr[1:])
    return new_indptr, indices[keep], values[keep]
