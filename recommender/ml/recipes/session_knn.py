"""Session nearest neighbours (V-SKNN; Ludewig et al., "Empirical analysis of session-based recommendation", 2021).

No training beyond indexing: a session (or a user's latest events) is
compared with every training user's items, recent events weighing more, and
the ``neighbors`` most similar users vote for their items.  A strong,
cheap baseline for next-item prediction that neural sequence models must beat.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..params import Param
from ..progress import EpochReporter
from ..sequence import SessionKnnScorer, ordered_histories
from .base import BASE_PROCESS_BYTES, RECOMMENDATION, Estimate, FitResult, Recipe

if TYPE_CHECKING:
    from ..data import InteractionData
    from ..progress import TrainingCallbacks
    from ..selection import DataShape


class SessionKnn(Recipe):
    name = "session_knn"
    task = RECOMMENDATION
    description = "Session nearest neighbours: users whose items overlap the latest events vote (Ludewig 2021)."
    supports = frozenset({"recommend", "similar_items", "rank"})
    params = (
        Param("neighbors", "int", 100, min=1, max=5000, help="Most similar training users that vote."),
        Param("max_history", "int", 50, min=1, max=1000, help="Latest events of a session or user that are compared."),
        Param("position_decay", "bool", True, help="Weigh an event by its recency (latest 1, oldest 1/length)."),
        Param(
            "successors",
            "int",
            5,
            min=0,
            max=100,
            help="Neighbours vote for the items they had next after the session's latest shared item (this many, "
            "nearer counts more); 0: every item of a neighbour votes alike (plain V-SKNN).",
        ),
    )

    def estimate(self, shape: DataShape, params: dict) -> Estimate:
        # Indexing only (no TensorFlow): the ordered histories and an inverted index, a few arrays per event.
        return Estimate(memory_bytes=BASE_PROCESS_BYTES + shape.interactions * 48,
                        seconds=1.0 + shape.interactions * 2e-6)  # fmt: skip

    def fit(self, data: InteractionData, params: dict, *, seed: int, callbacks: TrainingCallbacks | None) -> FitResult:
        reporter = EpochReporter(callbacks, total_epochs=1)
        reporter.check_cancel()
        sequence_indptr, sequence_indices = ordered_histories(
            data.user_index, data.item_index, data.timestamps, data.n_users, params["max_history"]
        )
        scorer = SessionKnnScorer(
            self.name, data.user_ids, data.item_ids, *data.user_history_csr(),
            sequence_indptr=sequence_indptr, sequence_indices=sequence_indices, neighbors=params["neighbors"],
            max_history=params["max_history"], position_decay=params["position_decay"],
            successors=params["successors"],
        )  # fmt: skip
        reporter.epoch_done(1, {"loss": None}, last=True)
        return FitResult(scorer=scorer, history=reporter.history)
