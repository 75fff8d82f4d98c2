"""The Recipe base class: a named, parameterised way to train a scorer.

Recipe modules import the pandas-based data preparation (``..data``) inside
``prepare`` and ``fit``: web processes read the registry to validate configs
and list recipes, never train, and so never load pandas.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import metrics
from ..params import Param, validate_params
from ..progress import TrainingCallbacks
from ..scorers import Scorer

if TYPE_CHECKING:
    import pandas as pd

    from ..selection import DataShape

RECOMMENDATION = "recommendation"
PREDICTION = "prediction"
OPERATIONS = frozenset({"recommend", "similar_items", "rank", "predict", "explain"})
MIB = 2**20
# What a training process holds before any data: Python, numpy, pandas, Django (measured RSS).
BASE_PROCESS_BYTES = 250 * MIB
# TensorFlow's own footprint once imported, for the neural recipes.
TENSORFLOW_BYTES = 600 * MIB


@dataclass(frozen=True)
class Estimate:
    """A recipe's rough training cost on a data shape: peak memory and seconds on one core of this class."""

    memory_bytes: int
    seconds: float

    def to_dict(self) -> dict:
        return {"memory_mb": round(self.memory_bytes / MIB), "seconds": round(self.seconds, 1)}


@dataclass
class FitResult:
    """What a recipe's ``fit`` hands back to :func:`recommender.ml.training.train`."""

    scorer: Scorer
    history: list[dict] = field(default_factory=list)
    keras_model: Any = None


class Recipe:
    """Subclasses set the class attributes below and implement ``fit``."""

    name: str = ""
    task: str = RECOMMENDATION
    description: str = ""
    params: tuple[Param, ...] = ()
    supports: frozenset[str] = frozenset()
    # The hyperparameter the automatic choice tunes on the winner (None: it tunes nothing).
    main_param: str | None = None
    # Below this many interactions the automatic choice does not try the recipe (too little to learn from).
    min_interactions: int = 0
    # Items known only from the catalogue join the training data (recipes whose item tower reads text place them).
    places_catalogue_items: bool = False

    def validate(self, params: dict | None, *, allow_search_space: bool = False) -> dict:
        """Complete and type-check ``params``; raise InvalidParams naming every bad field."""
        return validate_params(self.params, params, allow_search_space=allow_search_space)

    def prepare(
        self,
        *,
        interactions: pd.DataFrame | None = None,
        items: pd.DataFrame | None = None,
        users: pd.DataFrame | None = None,
        table: pd.DataFrame | None = None,
        target: str | None = None,
    ) -> Any:
        """Validate caller data into the form ``fit`` consumes (raises DataError).

        That is InteractionData or TabularData here; a recipe may prepare its own (auto does).
        """
        from ..data import prepare_interactions, prepare_table

        if self.task == RECOMMENDATION:
            return prepare_interactions(
                interactions, items, users, include_feature_only_items=self.places_catalogue_items
            )
        return prepare_table(table, target, classification=self.is_classifier)

    def estimate(self, shape: DataShape, params: dict) -> Estimate:
        """Rough peak memory and training seconds on ``shape`` (a selection.DataShape), before any work.

        The default suits an embedding model trained by gradient descent with
        TensorFlow: linear in interactions times epochs, plus a vector per user
        and item.  Recipes with another cost profile override it.
        """
        epochs = params.get("epochs", 10)
        # About 30 s to import TensorFlow and build the model on the 2-core development machine.
        seconds = 30.0 + epochs * shape.interactions * 40e-6
        memory = BASE_PROCESS_BYTES + TENSORFLOW_BYTES + shape.interactions * 64 + (shape.users + shape.items) * 2048
        return Estimate(memory_bytes=int(memory), seconds=seconds)

    def tuning_values(self, value: Any) -> list:
        """Values of ``main_param`` worth trying around ``value``, most promising first."""
        return [value / 3, value * 3] if isinstance(value, float) else []

    @property
    def is_classifier(self) -> bool:
        return False

    @property
    def kind(self) -> str:
        """``recommendation``, ``classifier`` or ``regressor``: which metrics the recipe is judged by."""
        if self.task == RECOMMENDATION:
            return metrics.RECOMMENDATION
        return metrics.CLASSIFIER if self.is_classifier else metrics.REGRESSOR

    @property
    def default_metric(self) -> str:
        """The metric that decides tuning and "if better" deployments when none is named."""
        return metrics.default_metric(self.kind)

    @property
    def dataset_kind(self) -> str:
        """The kind of dataset the recipe trains on."""
        return "interactions" if self.task == RECOMMENDATION else "tabular"

    def fit(self, data: Any, params: dict, *, seed: int, callbacks: TrainingCallbacks | None) -> FitResult:
        """Train on what this recipe's ``prepare`` returned (each recipe declares its type)."""
        raise NotImplementedError

    def to_dict(self) -> dict:
        """JSON-able description for API docs and portal forms."""
        return {
            "name": self.name,
            "task": self.task,
            "description": self.description,
            "supports": sorted(self.supports),
            "params": [param.to_dict() for param in self.params],
        }

    def __repr__(self) -> str:
        return f"<Recipe {self.name} ({self.task})>"
