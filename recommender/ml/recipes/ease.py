"""EASE (Steck, "Embarrassingly Shallow Autoencoders", WWW 2019).

A closed-form item-item model: B = I - P / diag(P) with P = (X^T X + l2 I)^-1
and a zero diagonal.  Strong on dense catalogues such as MovieLens and cheap
to serve, but memory grows with the square of the catalogue, hence the cap.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from ..params import Param
from ..progress import EpochReporter
from ..scorers import ItemItemScorer
from .base import RECOMMENDATION, FitResult, Recipe

# Users per block when accumulating the Gram matrix, bounding peak memory.
_GRAM_BLOCK_USERS = 2048


class Ease(Recipe):
    name = "ease"
    task = RECOMMENDATION
    description = "Item-item linear autoencoder with a closed-form solution (Steck 2019)."
    supports = frozenset({"recommend", "similar_items", "rank", "explain"})
    params = (
        Param("l2", "float", 500.0, min=1.0, max=1e6,
              help="L2 regularisation of the item-item weights; larger suits sparser data."),
        Param("max_items", "int", 20000, min=2, max=50000,
              help="Refuse catalogues larger than this: memory grows with its square (8 bytes per pair)."),
    )

    def fit(self, data, params, *, seed, callbacks):
        if data.n_items > params["max_items"]:
            raise DataError(
                f"EASE needs an items x items matrix; {data.n_items} items exceed max_items={params['max_items']}. "
                "Raise max_items if the machine has the memory, or use two_tower / neumf for large catalogues."
            )
        reporter = EpochReporter(callbacks, total_epochs=1)
        reporter.check_cancel()
        indptr, indices = data.user_history_csr()
        weights = ease_weights(gram_matrix(indptr, indices, data.n_items), params["l2"])
        scorer = ItemItemScorer(self.name, data.user_ids, data.item_ids, indptr, indices, weights)
        reporter.epoch_done(1, {"loss": None}, last=True)
        return FitResult(scorer=scorer, history=reporter.history)


def gram_matrix(indptr: np.ndarray, indices: np.ndarray, n_items: int) -> np.ndarray:
    """X^T X for the binary user-item matrix given as CSR, in float64."""
    gram = np.zeros((n_items, n_items), dtype=np.float64)
    n_users = len(indptr) - 1
    for first in range(0, n_users, _GRAM_BLOCK_USERS):
        last = min(first + _GRAM_BLOCK_USERS, n_users)
        block = np.zeros((last - first, n_items), dtype=np.float64)
        rows = np.repeat(np.arange(last - first), np.diff(indptr[first:last + 1]))
        block[rows, indices[indptr[first]:indptr[last]]] = 1.0
        gram += block.T @ block
    return gram


def ease_weights(gram: np.ndarray, l2: float) -> np.ndarray:
    """Closed-form EASE weights (float32) from the Gram matrix; ``gram`` is overwritten."""
    gram[np.diag_indices_from(gram)] += l2
    precision = np.linalg.inv(gram)
    weights = precision / (-np.diag(precision))
    weights[np.diag_indices_from(weights)] = 0.0
    return weights.astype(np.float32)
