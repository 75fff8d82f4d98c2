"""EASE (Steck, "Embarrassingly Shallow Autoencoders", WWW 2019).

A closed-form item-item model: B = I - P / diag(P) with P = (X^T X + l2 I)^-1
and a zero diagonal.  Strong on dense catalogues such as MovieLens. Training
memory grows with the square of the catalogue, hence the cap; for serving only
the ``neighbors`` largest weights of each item are kept (a sparse matrix), so a
10,000-item model needs megabytes, not the 400 MB of the dense one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import DataError
from ..params import Param
from ..progress import EpochReporter
from ..scorers import ItemItemScorer
from .base import BASE_PROCESS_BYTES, RECOMMENDATION, Estimate, FitResult, Recipe

if TYPE_CHECKING:
    from ..data import InteractionData
    from ..progress import TrainingCallbacks
    from ..selection import DataShape

# Users per block when accumulating the Gram matrix, bounding peak memory.
_GRAM_BLOCK_USERS = 2048
# Measured on the 2-core development machine (docs/benchmarks.md, "Large catalogues").
_INVERSION_SECONDS_PER_ITEM_CUBED = 1e-10


class Ease(Recipe):
    name = "ease"
    task = RECOMMENDATION
    description = "Item-item linear autoencoder with a closed-form solution (Steck 2019)."
    supports = frozenset({"recommend", "similar_items", "rank", "explain"})
    main_param = "l2"
    params = (
        Param(
            "l2",
            "float",
            500.0,
            min=1.0,
            max=1e6,
            help="L2 regularisation of the item-item weights; larger suits sparser data.",
        ),
        Param(
            "max_items",
            "int",
            20000,
            min=2,
            max=50000,
            help="Refuse catalogues larger than this: memory grows with its square (8 bytes per pair).",
        ),
        Param(
            "neighbors",
            "int",
            200,
            min=10,
            max=5000,
            help="Weights kept per item for serving (largest in magnitude); more is closer to exact EASE.",
        ),
    )

    def estimate(self, shape: DataShape, params: dict) -> Estimate:
        # The Gram matrix, its inverse and the scaled copy are items x items float64 at the peak.
        n = shape.items
        memory = BASE_PROCESS_BYTES + 3 * 8 * n * n + shape.interactions * 48
        return Estimate(memory_bytes=int(memory), seconds=1.0 + _INVERSION_SECONDS_PER_ITEM_CUBED * n**3)

    def fit(self, data: InteractionData, params: dict, *, seed: int, callbacks: TrainingCallbacks | None) -> FitResult:
        if data.n_items > params["max_items"]:
            raise DataError(
                f"EASE needs an items x items matrix; {data.n_items} items exceed max_items={params['max_items']}. "
                "Raise max_items if the machine has the memory, or use sparse_ease (or auto) for large catalogues."
            )
        reporter = EpochReporter(callbacks, total_epochs=1)
        reporter.check_cancel()
        indptr, indices = data.user_history_csr()
        weights = ease_weights(gram_matrix(indptr, indices, data.n_items), params["l2"])
        sparse = keep_largest_per_row(weights, params["neighbors"])
        scorer = ItemItemScorer(self.name, data.user_ids, data.item_ids, indptr, indices, *sparse)
        reporter.epoch_done(1, {"loss": None}, last=True)
        return FitResult(scorer=scorer, history=reporter.history)


def gram_matrix(indptr: np.ndarray, indices: np.ndarray, n_items: int) -> np.ndarray:
    """X^T X for the binary user-item matrix given as CSR, in float64."""
    gram = np.zeros((n_items, n_items), dtype=np.float64)
    n_users = len(indptr) - 1
    for first in range(0, n_users, _GRAM_BLOCK_USERS):
        last = min(first + _GRAM_BLOCK_USERS, n_users)
        block = np.zeros((last - first, n_items), dtype=np.float64)
        rows = np.repeat(np.arange(last - first), np.diff(indptr[first : last + 1]))
        block[rows, indices[indptr[first] : indptr[last]]] = 1.0
        gram += block.T @ block
    return gram


def ease_weights(gram: np.ndarray, l2: float) -> np.ndarray:
    """Closed-form EASE weights (float32) from the Gram matrix; ``gram`` is overwritten."""
    gram[np.diag_indices_from(gram)] += l2
    precision = np.linalg.inv(gram)
    weights = precision / (-np.diag(precision))
    weights[np.diag_indices_from(weights)] = 0.0
    return weights.astype(np.float32)


def keep_largest_per_row(weights: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``n`` largest-magnitude weights of each row as CSR ``(indptr, indices, values)``, indices sorted."""
    n_rows, n_cols = weights.shape
    n = min(n, n_cols)
    if n < n_cols:
        columns = np.argpartition(-np.abs(weights), n - 1, axis=1)[:, :n]
    else:
        columns = np.tile(np.arange(n_cols), (n_rows, 1))
    columns = np.sort(columns, axis=1)
    values = np.take_along_axis(weights, columns, axis=1)
    keep = values != 0.0
    counts = keep.sum(axis=1)
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return indptr, columns[keep].astype(np.int32), values[keep].astype(np.float32)
