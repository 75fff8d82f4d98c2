"""Random search over a recipe's parameter ranges: ``tune()``.

Each trial evaluates one sampled configuration with :func:`evaluate` on a
validation split carved from the data passed in (leave-last-out for
recommendation, a stratified holdout for tables), always with the same seed
so that trials differ only by their parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .evaluation import evaluate
from .metrics import lower_is_better, metric_names
from .params import is_search_spec
from .recipes import get_recipe

if TYPE_CHECKING:
    import pandas as pd

MAX_TRIALS = 100
# Draws per requested trial before accepting that the space has no more distinct points.
_DRAWS_PER_TRIAL = 20


@dataclass
class TuningResult:
    """The best configuration found and every trial's score."""

    best_params: dict
    best_score: float | None
    metric: str
    trials: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "best_params": _jsonable(self.best_params),
            "best_score": self.best_score,
            "metric": self.metric,
            "trials": [{"params": _jsonable(trial["params"]), "score": trial["score"]} for trial in self.trials],
        }


def tune(
    recipe_name: str,
    search_space_params: dict | None,
    *,
    interactions: pd.DataFrame | None = None,
    items: pd.DataFrame | None = None,
    users: pd.DataFrame | None = None,
    table: pd.DataFrame | None = None,
    target: str | None = None,
    n_trials: int = 8,
    seed: int = 42,
    metric: str | None = None,
    k: int = 10,
) -> TuningResult:
    """Try up to ``n_trials`` distinct configurations drawn from the ranges in ``search_space_params``.

    ``metric`` defaults to ``ndcg@k`` (recommendation), ``roc_auc``
    (classification) or ``rmse`` (regression); lower-is-better metrics are
    minimised.  Concrete values in ``search_space_params`` stay fixed.
    """
    recipe = get_recipe(recipe_name)
    space = recipe.validate(search_space_params, allow_search_space=True)
    if not 1 <= n_trials <= MAX_TRIALS:
        raise ValueError(f"n_trials must be between 1 and {MAX_TRIALS}, got {n_trials}")
    valid = metric_names(recipe.kind, k)
    metric = metric or valid[0]
    if metric not in valid:
        raise ValueError(f"unknown metric {metric!r} for {recipe.name}; choose one of {', '.join(valid)}")
    rng = np.random.default_rng(seed)
    trials = []
    for params in _distinct_samples(space, n_trials, rng):
        report = evaluate(
            recipe_name,
            params,
            interactions=interactions,
            items=items,
            users=users,
            table=table,
            target=target,
            k=k,
            seed=seed,
        )
        trials.append({"params": params, "score": report.metrics[metric]})
    best = _best_trial(trials, lower_is_better=lower_is_better(metric))
    return TuningResult(best_params=best["params"], best_score=best["score"], metric=metric, trials=trials)


def _distinct_samples(space: dict, n_trials: int, rng: np.random.Generator) -> list[dict]:
    samples, seen = [], set()
    for _ in range(n_trials * _DRAWS_PER_TRIAL):
        params = {name: _sample(value, rng) if is_search_spec(value) else value for name, value in space.items()}
        key = repr(sorted(params.items()))
        if key not in seen:
            seen.add(key)
            samples.append(params)
            if len(samples) == n_trials:
                break
    return samples


def _sample(spec: dict, rng: np.random.Generator) -> Any:
    if "choices" in spec:
        return spec["choices"][int(rng.integers(len(spec["choices"])))]
    low, high = spec["min"], spec["max"]
    if spec["log"]:
        value = math.exp(rng.uniform(math.log(low), math.log(high)))
    else:
        value = rng.uniform(low, high) if isinstance(low, float) else int(rng.integers(low, high + 1))
    if isinstance(low, int):
        return int(min(max(round(value), low), high))
    return float(min(max(value, low), high))


def _best_trial(trials: list[dict], *, lower_is_better: bool) -> dict:
    def badness(trial: dict) -> float:
        score = trial["score"]
        if score is None:
            return math.inf
        return score if lower_is_better else -score

    return min(trials, key=badness)


def _jsonable(params: dict) -> dict:
    return {name: list(value) if isinstance(value, tuple) else value for name, value in params.items()}
