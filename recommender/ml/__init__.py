"""Framework-free recommendation and prediction models.

``import recommender.ml`` is cheap: parameters and exceptions load eagerly,
everything else on first use (module ``__getattr__``).  Serving code needs
only :func:`load_scorer`, which uses numpy alone; TensorFlow is imported by
the neural recipes when they train.
"""

from importlib import import_module
from typing import Any

from .errors import (
    ArtifactError,
    DataError,
    InvalidParams,
    PredictionInputError,
    TrainingCancelled,
    UnknownItem,
    UnknownRecipe,
    UnknownUser,
    UnsupportedOperation,
)
from .params import Param

_LAZY_EXPORTS = {
    "DEFAULT_RECOMMENDATION_RECIPE": "recipes",
    "Recipe": "recipes",
    "get_recipe": "recipes",
    "list_recipes": "recipes",
    "InteractionArrays": "arrays",
    "InteractionArraysBuilder": "arrays",
    "InteractionData": "data",
    "TabularData": "data",
    "choose_feature_columns": "data",
    "identifier_columns": "data",
    "EvaluationReport": "evaluation",
    "evaluate": "evaluation",
    "TuningResult": "tuning",
    "tune": "tuning",
    "TrainedModel": "training",
    "TrainingCallbacks": "progress",
    "train": "training",
    "load_scorer": "artifacts",
    "read_manifest": "artifacts",
    "save_artifact": "artifacts",
    "Scorer": "scorers",
    "AUTO": "selection",
    "Budget": "selection",
    "Choice": "selection",
    "DataShape": "selection",
    "choose_recipe": "selection",
    "data_shape": "selection",
    "fits": "selection",
    "recipes_that_fit": "selection",
}


def __getattr__(name: str) -> Any:
    module = _LAZY_EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_EXPORTS))


__all__ = [
    "ArtifactError",
    "DataError",
    "InvalidParams",
    "Param",
    "PredictionInputError",
    "TrainingCancelled",
    "UnknownItem",
    "UnknownRecipe",
    "UnknownUser",
    "UnsupportedOperation",
    *_LAZY_EXPORTS,
]
