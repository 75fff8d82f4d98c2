"""Registry of training recipes.

Recipe modules import TensorFlow only inside ``fit``, so listing recipes and
validating parameters (API docs, portal forms) stays lightweight.
"""

from __future__ import annotations

from ..errors import UnknownRecipe
from .auto import Auto
from .base import PREDICTION, RECOMMENDATION, Estimate, FitResult, Recipe
from .ease import Ease
from .mlp import MlpClassifier, MlpRegressor
from .neumf import NeuMF
from .popularity import Popularity
from .sasrec import Sasrec
from .session_knn import SessionKnn
from .sparse_ease import SparseEase
from .two_tower import TwoTower

_RECIPES: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in (
        Auto(),
        Popularity(),
        Ease(),
        SparseEase(),
        NeuMF(),
        TwoTower(),
        MlpClassifier(),
        MlpRegressor(),
        Sasrec(),
        SessionKnn(),
    )
}

# The automatic choice among the recipes that fit the data (recommender/ml/selection.py);
# docs/benchmarks.md, "## Models", has what it picks on which data.
DEFAULT_RECOMMENDATION_RECIPE = "auto"

BASELINE_RECIPE = "popularity"


def get_recipe(name: str) -> Recipe:
    """The recipe registered as ``name``; raises UnknownRecipe listing the valid names."""
    try:
        return _RECIPES[name]
    except (KeyError, TypeError):
        raise UnknownRecipe(name, sorted(_RECIPES)) from None


def list_recipes() -> list[Recipe]:
    """All recipes, recommendation first, in a stable order."""
    return sorted(_RECIPES.values(), key=lambda recipe: (recipe.task != RECOMMENDATION, recipe.name))


__all__ = [
    "BASELINE_RECIPE",
    "DEFAULT_RECOMMENDATION_RECIPE",
    "Estimate",
    "PREDICTION",
    "RECOMMENDATION",
    "FitResult",
    "Recipe",
    "UnknownRecipe",
    "get_recipe",
    "list_recipes",
]
