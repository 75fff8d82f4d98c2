"""``auto``: the default recipe, which picks and tunes a concrete recipe for the data.

The choice itself lives in :mod:`recommender.ml.selection`; this wrapper lets
``train("auto", ...)`` work like any recipe (the platform's training runs call
``choose_recipe`` directly so that they can record the choice and reuse the
winner's validation report).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..params import Param
from .base import RECOMMENDATION, Estimate, FitResult, Recipe

if TYPE_CHECKING:
    import pandas as pd

    from ..data import InteractionData
    from ..progress import TrainingCallbacks
    from ..selection import DataShape


@dataclass
class _AutoInput:
    """The caller's frames (the choice evaluates on them) and the prepared data (the winner trains on it)."""

    frames: dict
    data: InteractionData

    def snapshot(self) -> dict:
        return self.data.snapshot()


class Auto(Recipe):
    name = "auto"
    task = RECOMMENDATION
    description = (
        "Chooses for you: keeps the recipes whose training fits the memory and time budget for this data, "
        "compares them on a validation split, tunes the winner's main setting and trains it."
    )
    # Every recommendation recipe recommends and ranks; similar items and explanations depend on the choice.
    supports = frozenset({"recommend", "rank"})
    params = (
        Param("validation_users", "int", 2000, min=100, max=1_000_000,
              help="Users whose held-out item each candidate is scored on (a seeded sample)."),
        Param("tune", "bool", True, help="Tune the winner's main hyperparameter while the time budget allows."),
    )  # fmt: skip

    def estimate(self, shape: DataShape, params: dict) -> Estimate:
        from ..selection import Budget, recipes_that_fit

        fitting = recipes_that_fit(shape, Budget())
        return Estimate(memory_bytes=max((e.memory_bytes for _, e in fitting), default=0),
                        seconds=2 * sum(e.seconds for _, e in fitting))  # fmt: skip

    def prepare(
        self,
        *,
        interactions: pd.DataFrame | None = None,
        items: pd.DataFrame | None = None,
        users: pd.DataFrame | None = None,
        table: pd.DataFrame | None = None,
        target: str | None = None,
    ) -> _AutoInput:
        from ..data import prepare_interactions

        data = prepare_interactions(interactions, items, users)
        return _AutoInput(frames={"interactions": interactions, "items": items, "users": users}, data=data)

    def fit(self, data: _AutoInput, params: dict, *, seed: int, callbacks: TrainingCallbacks | None) -> FitResult:
        from ..selection import choose_recipe
        from . import get_recipe

        choice = choose_recipe(**data.frames, validation_users=params["validation_users"], tune=params["tune"],
                               seed=seed)  # fmt: skip
        winner = get_recipe(choice.recipe)
        # Recipes that score feature-only items prepare their data their own way.
        prepared = winner.prepare(**data.frames)
        return winner.fit(prepared, choice.params, seed=seed, callbacks=callbacks)


__all__ = ["Auto", "FitResult"]
