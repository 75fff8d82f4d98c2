"""Train a recipe on caller data: ``train(recipe_name, params, ...) -> TrainedModel``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import TrainingCancelled
from .progress import TrainingCallbacks
from .recipes import Recipe, get_recipe
from .scorers import Scorer

if TYPE_CHECKING:  # pandas is imported only where data is prepared
    import pandas as pd


@dataclass
class TrainedModel:
    """A trained recipe: its scorer is usable at once and can be saved with ``save_artifact``."""

    recipe: Recipe
    params: dict
    history: list[dict]
    snapshot: dict
    scorer: Scorer
    keras_model: Any = None
    seed: int = 42


def train(
    recipe_name: str,
    params: dict | None,
    *,
    interactions: pd.DataFrame | None = None,
    items: pd.DataFrame | None = None,
    users: pd.DataFrame | None = None,
    table: pd.DataFrame | None = None,
    target: str | None = None,
    seed: int = 42,
    callbacks: TrainingCallbacks | None = None,
) -> TrainedModel:
    """Validate ``params`` and the data, then fit ``recipe_name``.

    Raises UnknownRecipe, InvalidParams (bad params), DataError (unusable
    data) or TrainingCancelled (``callbacks.should_cancel()`` said so).
    The same data, params and ``seed`` give the same model.
    """
    recipe = get_recipe(recipe_name)
    validated = recipe.validate(params)
    data = recipe.prepare(interactions=interactions, items=items, users=users, table=table, target=target)
    result = recipe.fit(data, validated, seed=seed, callbacks=callbacks)
    return TrainedModel(
        recipe=recipe,
        params=validated,
        history=result.history,
        snapshot=data.snapshot(),
        scorer=result.scorer,
        keras_model=result.keras_model,
        seed=seed,
    )


__all__ = ["TrainedModel", "TrainingCallbacks", "TrainingCancelled", "train"]
