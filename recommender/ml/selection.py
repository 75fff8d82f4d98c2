"""Automatic recipe choice: ``choose_recipe()`` (the ``auto`` recipe).

1. Describe the data (:class:`DataShape`: users, items, interactions, density,
   features, timestamps) without building any model.
2. Ask every registered recommendation recipe for a rough estimate of its
   training memory and time on that shape (``Recipe.estimate``) and keep those
   within the :class:`Budget` that have enough data (``Recipe.min_interactions``).
   Cheapest first, candidates are kept while their summed training time stays
   within ``comparison_share`` of the time budget.
3. Evaluate each kept candidate with its default parameters on the same
   validation split (at most ``validation_users`` users scored): each user's
   latest item held out, or a random quarter of their items when the data has
   no timestamps.
4. Tune the winner's main hyperparameter (``Recipe.tuning_values``) while the
   budget allows, and hand back the best configuration with every candidate's
   score and the reason for each decision.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import DataError
from .recipes import RECOMMENDATION, list_recipes
from .recipes.base import Estimate, Recipe

if TYPE_CHECKING:
    import pandas as pd

    from .arrays import InteractionArrays
    from .evaluation import EvaluationReport
    from .progress import TrainingCallbacks

AUTO = "auto"
METRIC = "ndcg@10"
GIB = 1024**3


@dataclass(frozen=True)
class DataShape:
    """What the choice looks at; cheap to compute from the raw interactions."""

    users: int
    items: int
    interactions: int
    has_timestamps: bool = False
    has_item_features: bool = False
    has_user_features: bool = False

    @property
    def density(self) -> float:
        return self.interactions / max(self.users * self.items, 1)

    def to_dict(self) -> dict:
        return {"users": self.users, "items": self.items, "interactions": self.interactions,
                "density": round(self.density, 8), "has_timestamps": self.has_timestamps,
                "has_item_features": self.has_item_features, "has_user_features": self.has_user_features}  # fmt: skip


@dataclass(frozen=True)
class Budget:
    """Training resources one run may use: peak memory in bytes and wall-clock seconds."""

    memory_bytes: int = int(1.5 * GIB)
    seconds: float = 3600.0
    # Share of ``seconds`` the comparison of candidates may take; the rest trains the winner on all data.
    comparison_share: float = 0.5

    def to_dict(self) -> dict:
        return {"memory_mb": round(self.memory_bytes / 2**20), "seconds": self.seconds,
                "comparison_seconds": round(self.seconds * self.comparison_share, 1)}  # fmt: skip


@dataclass
class Choice:
    """The chosen recipe and parameters, with every candidate's fate and validation score."""

    recipe: str
    params: dict
    reason: str
    shape: DataShape
    budget: Budget
    candidates: list[dict] = field(default_factory=list)
    tuning: list[dict] = field(default_factory=list)
    report: EvaluationReport | None = None  # the winner's EvaluationReport on the validation split
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {
            "requested": AUTO,
            "chosen": self.recipe,
            "params": _jsonable(self.params),
            "reason": self.reason,
            "metric": METRIC,
            "protocol": self.report.protocol if self.report is not None else None,
            "data": self.shape.to_dict(),
            "budget": self.budget.to_dict(),
            "candidates": self.candidates,
            "tuning": self.tuning,
            "seconds": round(self.seconds, 1),
        }


def data_shape(
    interactions: pd.DataFrame | InteractionArrays | None,
    items: pd.DataFrame | None = None,
    users: pd.DataFrame | None = None,
) -> DataShape:
    """Counts of distinct users and items and of rows, and which optional inputs are present."""
    from .arrays import InteractionArrays

    if isinstance(interactions, InteractionArrays):
        return DataShape(
            users=_distinct(interactions.user_index, len(interactions.user_ids)),
            items=_distinct(interactions.item_index, len(interactions.item_ids)),
            interactions=interactions.n_rows,
            has_timestamps=interactions.timestamps is not None,
            has_item_features=items is not None and len(items) > 0 and len(items.columns) > 1,
            has_user_features=users is not None and len(users) > 0 and len(users.columns) > 1,
        )
    if interactions is None or not {"user_id", "item_id"} <= set(interactions.columns):
        raise DataError("choosing a recipe needs an interactions table (columns user_id, item_id)")
    known = interactions.dropna(subset=["user_id", "item_id"])
    return DataShape(
        users=int(known["user_id"].nunique()),
        items=int(known["item_id"].nunique()),
        interactions=len(known),
        has_timestamps="timestamp" in known.columns and bool(known["timestamp"].notna().any()),
        has_item_features=items is not None and len(items) > 0 and len(items.columns) > 1,
        has_user_features=users is not None and len(users) > 0 and len(users.columns) > 1,
    )


def _distinct(codes: np.ndarray, n_ids: int) -> int:
    return int(np.count_nonzero(np.bincount(codes, minlength=n_ids))) if len(codes) else 0


def fits(recipe: Recipe, shape: DataShape, params: dict, budget: Budget) -> tuple[bool, Estimate, str]:
    """Whether ``recipe`` with ``params`` trains on ``shape`` within ``budget``, its estimate, and why not."""
    estimate = recipe.estimate(shape, params)
    if estimate.memory_bytes > budget.memory_bytes:
        return (
            False,
            estimate,
            (
                f"needs about {_gib(estimate.memory_bytes)} of memory for {shape.items:,} items and "
                f"{shape.interactions:,} interactions; the training budget is {_gib(budget.memory_bytes)}"
            ),
        )
    if estimate.seconds > budget.seconds:
        return (
            False,
            estimate,
            (f"would train for about {estimate.seconds:,.0f} s; the time limit is {budget.seconds:,.0f} s"),
        )
    return True, estimate, ""


def recipes_that_fit(shape: DataShape, budget: Budget) -> list[tuple[str, Estimate]]:
    """Recommendation recipes (except ``auto``) that fit with their defaults, cheapest first."""
    fitting = []
    for recipe in list_recipes():
        if recipe.task != RECOMMENDATION or recipe.name == AUTO:
            continue
        ok, estimate, _ = fits(recipe, shape, recipe.validate({}), budget)
        if ok:
            fitting.append((recipe.name, estimate))
    return sorted(fitting, key=lambda pair: pair[1].seconds)


def choose_recipe(
    *,
    interactions: pd.DataFrame,
    items: pd.DataFrame | None = None,
    users: pd.DataFrame | None = None,
    budget: Budget | None = None,
    validation_users: int = 2000,
    tune: bool = True,
    seed: int = 42,
    callbacks: TrainingCallbacks | None = None,
) -> Choice:
    """Pick the best recommendation recipe that fits ``budget`` by validation NDCG@10 (see module docstring)."""
    from .evaluation import evaluate

    started = time.perf_counter()
    budget = budget or Budget()
    shape = data_shape(interactions, items, users)
    comparison_seconds = budget.seconds * budget.comparison_share
    candidates, kept, planned = [], [], 0.0
    for recipe in sorted(
        (recipe for recipe in list_recipes() if recipe.task == RECOMMENDATION and recipe.name != AUTO),
        key=lambda recipe: recipe.estimate(shape, recipe.validate({})).seconds,
    ):
        ok, estimate, why_not = fits(recipe, shape, recipe.validate({}), budget)
        entry = {"recipe": recipe.name, "estimate": estimate.to_dict(), "score": None}
        if ok and shape.interactions < recipe.min_interactions:
            ok, why_not = (
                False,
                (
                    f"needs at least {recipe.min_interactions:,} interactions to learn from; the data has "
                    f"{shape.interactions:,}"
                ),
            )
        if ok and planned + estimate.seconds > comparison_seconds:
            ok, why_not = (
                False,
                (
                    f"would train for about {estimate.seconds:,.0f} s; with the cheaper candidates that exceeds "
                    f"the {comparison_seconds:,.0f} s the comparison may take"
                ),
            )
        if not ok:
            candidates.append({**entry, "status": "skipped", "reason": why_not})
            continue
        planned += estimate.seconds
        kept.append(recipe)
        candidates.append({**entry, "status": "compared", "reason": ""})
    if not kept:
        raise DataError(
            f"no recipe fits the training budget ({_gib(budget.memory_bytes)}, {budget.seconds:,.0f} s) for "
            f"{shape.items:,} items and {shape.interactions:,} interactions"
        )

    # Without timestamps the order of rows need not be the order of time (files sorted by id are common),
    # so "each user's last item" could be an arbitrary one: hold out a random share of items instead.
    protocol = "leave_last_out" if shape.has_timestamps else "random_holdout"

    def run(name: str, params: dict) -> EvaluationReport:
        return evaluate(name, params, interactions=interactions, items=items, users=users, seed=seed,
                        protocol=protocol, max_test_users=validation_users, sampled_beside=False,
                        callbacks=callbacks)  # fmt: skip

    reports = {}
    for recipe in kept:
        # A caller may pass only on_epoch: should_cancel is optional.
        if callbacks is not None and callbacks.should_cancel is not None and callbacks.should_cancel():
            from .errors import TrainingCancelled

            raise TrainingCancelled()
        try:
            reports[recipe.name] = run(recipe.name, {})
        except DataError as exc:
            # A recipe that cannot use this data (e.g. one that needs timestamps) drops out; the others compete.
            _update(candidates, recipe.name, status="failed", reason=str(exc))
            continue
        report = reports[recipe.name]
        _update(candidates, recipe.name, score=report.metrics[METRIC], train_seconds=round(report.train_seconds, 2))
    if not reports:
        raise DataError(
            "no candidate recipe could be trained on this data: "
            + "; ".join(f"{c['recipe']}: {c['reason']}" for c in candidates if c["reason"])
        )
    best = max(reports, key=lambda name: (reports[name].metrics[METRIC], -_position(kept, name)))
    scores = {name: report.metrics[METRIC] for name, report in reports.items()}
    winner, kept_note = keep_reliable_unless_clearly_beaten(scores, best, n_test=reports[best].n_test)
    best_params, best_report = {}, reports[winner]
    recipe = next(recipe for recipe in kept if recipe.name == winner)
    tuning = []
    spent = time.perf_counter() - started
    if tune and recipe.main_param:
        base_value = recipe.validate({})[recipe.main_param]
        tuning.append({"params": {recipe.main_param: base_value}, "score": best_report.metrics[METRIC]})
        for value in recipe.tuning_values(base_value):
            # Each trial costs about what the first training did; stop before the comparison budget is gone.
            if spent + reports[winner].train_seconds * 1.5 > comparison_seconds:
                break
            params = {recipe.main_param: value}
            report = run(winner, params)
            tuning.append({"params": params, "score": report.metrics[METRIC]})
            if report.metrics[METRIC] > best_report.metrics[METRIC]:
                best_params, best_report = params, report
            spent = time.perf_counter() - started
    _update(candidates, winner, status="chosen")
    reason = _reason(winner, best_report, reports, candidates, shape) + kept_note
    return Choice(
        recipe=winner,
        params=recipe.validate(best_params),
        reason=reason,
        shape=shape,
        budget=budget,
        candidates=candidates,
        tuning=tuning,
        report=best_report,
        seconds=time.perf_counter() - started,
    )


# The recipes that won the quality bench on real data, most trusted first: a challenger must beat them by
# more than the validation split's noise, or a small tenant's model would follow chance.
RELIABLE = ("ease", "sparse_ease")


def noise_margin(n_test: int) -> float:
    """Two standard errors of a mean of per-user scores in [0, 1] (their variance is at most 1/4)."""
    return 2 * 0.5 / math.sqrt(max(n_test, 1))


def keep_reliable_unless_clearly_beaten(scores: dict, best: str, *, n_test: int) -> tuple[str, str]:
    """The recipe to choose, and a note for the reason when the most reliable one was kept over ``best``."""
    reliable = next((name for name in RELIABLE if name in scores), None)
    if reliable is None or best == reliable:
        return best, ""
    margin = noise_margin(n_test)
    if scores[best] - scores[reliable] > margin:
        return best, ""
    return reliable, (
        f" {best} scored {scores[best] - scores[reliable]:+.4f} more, within the validation's noise "
        f"(±{margin:.4f} over {n_test:,} users), so {reliable}, the more reliable recipe, was kept."
    )


def _reason(
    winner: str,
    report: EvaluationReport,
    reports: dict[str, EvaluationReport],
    candidates: list[dict],
    shape: DataShape,
) -> str:
    others = sorted((name for name in reports if name != winner), key=lambda name: -reports[name].metrics[METRIC])
    text = f"{winner} was chosen with validation {METRIC} {report.metrics[METRIC]:.4f}"
    if others:
        text += " against " + ", ".join(f"{name} {reports[name].metrics[METRIC]:.4f}" for name in others)
    skipped = [c["recipe"] for c in candidates if c["status"] == "skipped"]
    if skipped:
        text += f"; not tried on {shape.items:,} items and {shape.interactions:,} interactions: {', '.join(skipped)}"
    return text + "."


def _update(candidates: list[dict], name: str, **fields: Any) -> None:
    for candidate in candidates:
        if candidate["recipe"] == name:
            candidate.update(fields)


def _position(kept: list[Recipe], name: str) -> int:
    return [recipe.name for recipe in kept].index(name)


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / GIB:.1f} GB" if n_bytes >= GIB / 10 else f"{n_bytes / 2**20:.0f} MB"


def _jsonable(params: dict) -> dict:
    return {name: list(value) if isinstance(value, tuple) else value for name, value in params.items()}


__all__ = ["AUTO", "Budget", "Choice", "DataShape", "choose_recipe", "data_shape", "fits", "recipes_that_fit"]
