"""Popularity: interaction counts, optionally decayed with age.

The baseline every learned recipe must beat, and the fallback for users the
other recipes cannot score.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import DataError
from ..params import Param
from ..progress import EpochReporter
from ..scorers import PopularityScorer
from .base import BASE_PROCESS_BYTES, RECOMMENDATION, Estimate, FitResult, Recipe

if TYPE_CHECKING:
    from ..data import InteractionData
    from ..progress import TrainingCallbacks
    from ..selection import DataShape

SECONDS_PER_DAY = 86400.0


class Popularity(Recipe):
    name = "popularity"
    task = RECOMMENDATION
    description = "Recommends the most interacted-with items to everyone; optional time decay."
    supports = frozenset({"recommend", "rank"})
    params = (
        Param(
            "half_life_days",
            "float",
            0.0,
            min=0.0,
            max=3650.0,
            help="An interaction this many days older than the newest one counts half; 0 turns decay off.",
        ),
    )

    def estimate(self, shape: DataShape, params: dict) -> Estimate:
        memory = BASE_PROCESS_BYTES + shape.interactions * 48
        return Estimate(memory_bytes=memory, seconds=1.0 + shape.interactions * 2e-6)

    def fit(self, data: InteractionData, params: dict, *, seed: int, callbacks: TrainingCallbacks | None) -> FitResult:
        reporter = EpochReporter(callbacks, total_epochs=1)
        reporter.check_cancel()
        weights = np.ones(data.n_rows)
        if params["half_life_days"] > 0:
            if data.timestamps is None:
                raise DataError("half_life_days needs a timestamp column in interactions; add one or set it to 0")
            age_days = (data.timestamps.max() - data.timestamps) / SECONDS_PER_DAY
            weights = 0.5 ** (age_days / params["half_life_days"])
        scores = np.bincount(data.item_index, weights=weights, minlength=data.n_items)
        indptr, indices = data.user_history_csr()
        scorer = PopularityScorer(self.name, data.user_ids, data.item_ids, indptr, indices, scores)
        reporter.epoch_done(1, {"loss": None}, last=True)
        return FitResult(scorer=scorer, history=reporter.history)
