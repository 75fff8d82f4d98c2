"""Offline evaluation: data splits, metrics and ``evaluate()``.

``evaluate`` trains a recipe on a train split, scores the held-out split and
scores the task's baseline (popularity, or majority class / mean) on exactly
the same split, so every report carries its own point of comparison.

Recommendation protocols:

* ``leave_last_out``: each user's latest interaction (by timestamp, else row
  order) is held out.  By default it is ranked against every catalogue item
  the user did not interact with in training; with ``sampled_negatives=99``
  it is ranked among 99 sampled unseen items instead (He et al. 2017).
  Full ranking also reports, under ``sampled``, the same split ranked among
  100 sampled items, for comparison with papers that rank that way.
* ``random_holdout``: a seeded ``test_fraction`` (25%) of each user's
  distinct items is held out; all items are ranked, training items removed.

Only users with at least two distinct items are tested, the catalogue is the
set of items seen in the training split, and held-out items outside it are
dropped (no collaborative model can score them).  Ties in sampled ranking are
broken by a seeded random order of items, identical for model and baseline.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from .arrays import InteractionArrays
from .data import encode_frame, with_complete_timestamps
from .errors import DataError
from .metrics import lower_is_better
from .progress import TrainingCallbacks
from .recipes import BASELINE_RECIPE, RECOMMENDATION, Recipe, get_recipe
from .scorers import PredictorScorer, RecommendationScorer, Scorer, top_k_positions
from .training import train

LEAVE_LAST_OUT = "leave_last_out"
RANDOM_HOLDOUT = "random_holdout"
_USERS_PER_BATCH = 256


# ---------------------------------------------------------------------------
# Ranking metrics for one user: ``ranked`` is best-first, ``relevant`` the held-out items.


def hit_rate_at_k(ranked: Sequence, relevant: Collection, k: int) -> float:
    """1.0 if any relevant item is in the top ``k``, else 0.0."""
    return float(any(item in relevant for item in ranked[:k]))


def precision_at_k(ranked: Sequence, relevant: Collection, k: int) -> float:
    """Relevant items in the top ``k``, divided by ``k``."""
    return sum(item in relevant for item in ranked[:k]) / k


def recall_at_k(ranked: Sequence, relevant: Collection, k: int) -> float:
    """Relevant items in the top ``k``, divided by the number of relevant items."""
    if not relevant:
        return 0.0
    return sum(item in relevant for item in ranked[:k]) / len(relevant)


def ndcg_at_k(ranked: Sequence, relevant: Collection, k: int) -> float:
    """Binary-relevance DCG of the top ``k`` over the best achievable DCG."""
    dcg = sum(1.0 / math.log2(position + 2) for position, item in enumerate(ranked[:k]) if item in relevant)
    ideal = sum(1.0 / math.log2(position + 2) for position in range(min(k, len(relevant))))
    return dcg / ideal if ideal else 0.0


def average_precision_at_k(ranked: Sequence, relevant: Collection, k: int) -> float:
    """Mean of precision@i over the positions i of hits, normalised by min(k, |relevant|)."""
    hits, total = 0, 0.0
    for position, item in enumerate(ranked[:k]):
        if item in relevant:
            hits += 1
            total += hits / (position + 1)
    denominator = min(k, len(relevant))
    return total / denominator if denominator else 0.0


def coverage(recommendation_lists: Iterable[Sequence], n_items: int) -> float:
    """Share of the catalogue that appears in at least one recommendation list."""
    shown: set[object] = set()
    for recommended in recommendation_lists:
        shown.update(recommended)
    return len(shown) / n_items if n_items else 0.0


# ---------------------------------------------------------------------------
# Prediction metrics.


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def precision_recall_f1(y_true: ArrayLike, y_pred: ArrayLike, n_classes: int) -> tuple[float, float, float]:
    """Binary (positive class 1) or macro-averaged precision, recall and F1 over class indices."""
    truth, guessed = np.asarray(y_true), np.asarray(y_pred)
    classes = [1] if n_classes == 2 else range(n_classes)
    scores = []
    for label in classes:
        true_positive = np.sum((guessed == label) & (truth == label))
        predicted, actual = np.sum(guessed == label), np.sum(truth == label)
        precision = true_positive / predicted if predicted else 0.0
        recall = true_positive / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores.append((precision, recall, f1))
    precision, recall, f1 = (float(value) for value in np.mean(scores, axis=0))
    return precision, recall, f1


def roc_auc(y_true: ArrayLike, scores: ArrayLike) -> float | None:
    """Area under the ROC curve for binary labels (Mann-Whitney U, ties share ranks); None if one class."""
    positive = np.asarray(y_true).astype(bool)
    positives, negatives = int(positive.sum()), int((~positive).sum())
    if positives == 0 or negatives == 0:
        return None
    ranks = pd.Series(np.asarray(scores, dtype=np.float64)).rank(method="average").to_numpy()
    return float((ranks[positive].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def multiclass_roc_auc(y_true: ArrayLike, probabilities: np.ndarray) -> float | None:
    """Binary AUC for two classes, else the macro average of one-vs-rest AUCs."""
    truth = np.asarray(y_true)
    if probabilities.shape[1] == 2:
        return roc_auc(truth == 1, probabilities[:, 1])
    per_class = [roc_auc(truth == label, probabilities[:, label]) for label in range(probabilities.shape[1])]
    defined = [value for value in per_class if value is not None]
    return float(np.mean(defined)) if defined else None


def log_loss(y_true: ArrayLike, probabilities: ArrayLike, eps: float = 1e-15) -> float:
    """Mean negative log-probability of the true class."""
    clipped = np.clip(np.asarray(probabilities, dtype=np.float64), eps, 1.0)
    chosen = clipped[np.arange(len(clipped)), np.asarray(y_true)]
    return float(-np.mean(np.log(chosen)))


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    return float(np.sqrt(np.mean((np.asarray(y_true, float) - np.asarray(y_pred, float)) ** 2)))


def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    return float(np.mean(np.abs(np.asarray(y_true, float) - np.asarray(y_pred, float))))


def r2(y_true: ArrayLike, y_pred: ArrayLike) -> float | None:
    """Coefficient of determination; None when the targets are constant."""
    truth, predicted = np.asarray(y_true, float), np.asarray(y_pred, float)
    total = np.sum((truth - truth.mean()) ** 2)
    return float(1.0 - np.sum((truth - predicted) ** 2) / total) if total > 0 else None


def lift(metrics: dict[str, float | None], baseline: dict[str, float | None]) -> dict[str, float | None]:
    """Relative improvement over the baseline per metric, positive when better (lower-is-better aware)."""
    result: dict[str, float | None] = {}
    for name, value in metrics.items():
        reference = baseline.get(name)
        if value is None or reference is None or reference == 0:
            result[name] = None
        elif lower_is_better(name):
            result[name] = (reference - value) / abs(reference)
        else:
            result[name] = (value - reference) / abs(reference)
    return result


# ---------------------------------------------------------------------------
# Splits.


def leave_last_out_split(interactions: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out each user's latest interaction; all rows of that user-item pair leave training.

    Takes a frame or :class:`InteractionArrays` and answers in the same form.
    """
    if isinstance(interactions, InteractionArrays):
        return _arrays_leave_last_out(interactions)
    frame = _with_row_order(interactions)
    order = ["user_id", "timestamp", "_row"] if "timestamp" in frame.columns else ["user_id", "_row"]
    frame = frame.sort_values(order, kind="stable")
    distinct_items = frame.groupby("user_id")["item_id"].transform("nunique")
    last = frame[distinct_items >= 2].groupby("user_id").tail(1)
    held_out_pairs = pd.MultiIndex.from_frame(last[["user_id", "item_id"]])
    in_test_pair = pd.MultiIndex.from_frame(frame[["user_id", "item_id"]]).isin(held_out_pairs)
    return _without_row_order(frame[~in_test_pair]), _without_row_order(last)


def random_holdout_split(
    interactions: pd.DataFrame | InteractionArrays, fraction: float = 0.25, seed: int = 42
) -> tuple[Any, Any]:
    """Hold out a seeded ``fraction`` of each user's distinct items (at least one, never all).

    Takes a frame or :class:`InteractionArrays` and answers in the same form.
    """
    if isinstance(interactions, InteractionArrays):
        return _arrays_random_holdout(interactions, fraction, seed)
    frame = _with_row_order(interactions)
    pairs = frame[["user_id", "item_id"]].drop_duplicates()
    rng = np.random.default_rng(seed)
    pairs = pairs.assign(_priority=rng.random(len(pairs))).sort_values(["user_id", "_priority"], kind="stable")
    counts = pairs.groupby("user_id")["item_id"].transform("size").to_numpy()
    position = pairs.groupby("user_id").cumcount().to_numpy()
    n_test = np.clip(np.round(fraction * counts), 1, counts - 1)
    test_pairs = pairs[(counts >= 2) & (position < n_test)]
    in_test_pair = pd.MultiIndex.from_frame(frame[["user_id", "item_id"]]).isin(
        pd.MultiIndex.from_frame(test_pairs[["user_id", "item_id"]])
    )
    test = frame[in_test_pair].drop_duplicates(["user_id", "item_id"])
    return _without_row_order(frame[~in_test_pair]), _without_row_order(test)


def _arrays_leave_last_out(data: InteractionArrays) -> tuple[InteractionArrays, InteractionArrays]:
    """Leave-last-out on index arrays: a few O(rows) passes, no per-row objects."""
    rows = np.arange(data.n_rows)
    keys = (rows,) if data.timestamps is None else (rows, data.timestamps)
    order = np.lexsort((*keys, data.user_index))
    n_users = len(data.user_ids)
    users_sorted = data.user_index[order]
    ends = np.flatnonzero(np.r_[users_sorted[1:] != users_sorted[:-1], True]) if len(order) else rows[:0]
    last_rows = order[ends]
    del order, users_sorted
    eligible = _distinct_items_per_user(data, n_users)[data.user_index[last_rows]] >= 2
    last_rows = np.sort(last_rows[eligible])
    held_item = np.full(n_users, -1, dtype=np.int64)
    held_item[data.user_index[last_rows]] = data.item_index[last_rows]
    in_test_pair = held_item[data.user_index] == data.item_index
    return data.take(~in_test_pair), data.take(last_rows)


def _arrays_random_holdout(
    data: InteractionArrays, fraction: float, seed: int
) -> tuple[InteractionArrays, InteractionArrays]:
    """Random holdout on index arrays: distinct (user, item) pairs as int64 keys, a seeded share of each user's."""
    n_items = max(len(data.item_ids), 1)
    pair_keys = data.user_index.astype(np.int64) * n_items + data.item_index
    pairs, first_row = np.unique(pair_keys, return_index=True)
    pair_users = pairs // n_items
    priority = np.random.default_rng(seed).random(len(pairs))
    order = np.lexsort((priority, pair_users))
    pairs, pair_users, first_row = pairs[order], pair_users[order], first_row[order]
    counts_per_user = np.bincount(pair_users, minlength=len(data.user_ids))
    counts = counts_per_user[pair_users]
    starts = np.r_[0, np.cumsum(counts_per_user)][pair_users]
    position = np.arange(len(pairs)) - starts
    n_test = np.clip(np.round(fraction * counts), 1, counts - 1)
    chosen = (counts >= 2) & (position < n_test)
    in_test_pair = np.isin(pair_keys, pairs[chosen])
    return data.take(~in_test_pair), data.take(np.sort(first_row[chosen]))


def _distinct_items_per_user(data: InteractionArrays, n_users: int) -> np.ndarray:
    pair_keys = np.unique(data.user_index.astype(np.int64) * max(len(data.item_ids), 1) + data.item_index)
    return np.bincount(pair_keys // max(len(data.item_ids), 1), minlength=n_users)


def _id_columns(split: pd.DataFrame | InteractionArrays) -> tuple[np.ndarray, np.ndarray]:
    """Each row's user and item id as strings, from a frame or arrays (test splits: one row per user)."""
    if isinstance(split, InteractionArrays):
        return split.user_id_per_row().astype(str), split.item_id_per_row().astype(str)
    return split["user_id"].astype(str).to_numpy(), split["item_id"].astype(str).to_numpy()


def _item_ids_of(split: pd.DataFrame | InteractionArrays) -> set[str]:
    if isinstance(split, InteractionArrays):
        return set(split.item_ids[np.unique(split.item_index)].astype(str).tolist())
    return set(split["item_id"].astype(str))


def stratified_table_split(
    table: pd.DataFrame, target: str, fraction: float, seed: int, *, classification: bool
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded train/test split of a table; classes are split separately so each stays in training."""
    rng = np.random.default_rng(seed)
    labelled = table[table[target].notna()].reset_index(drop=True)
    groups = (
        labelled.groupby(labelled[target].astype(str)).indices.values()
        if classification
        else [np.arange(len(labelled))]
    )
    test_rows: list[int] = []
    for rows in groups:
        n_test = min(int(round(fraction * len(rows))), len(rows) - 1)
        test_rows.extend(rng.permutation(rows)[:n_test])
    in_test = np.zeros(len(labelled), dtype=bool)
    in_test[np.asarray(test_rows, dtype=np.int64)] = True
    return labelled[~in_test].reset_index(drop=True), labelled[in_test].reset_index(drop=True)


def _with_row_order(interactions: pd.DataFrame) -> pd.DataFrame:
    frame = interactions.dropna(subset=["user_id", "item_id"]).copy()
    frame["user_id"] = frame["user_id"].astype(str)
    frame["item_id"] = frame["item_id"].astype(str)
    frame["_row"] = np.arange(len(frame))
    return frame


def _without_row_order(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("_row", kind="stable").drop(columns="_row").reset_index(drop=True)


# ---------------------------------------------------------------------------
# evaluate()


@dataclass
class EvaluationReport:
    """Metrics of a recipe and of the task's baseline on one split."""

    recipe: str
    protocol: str
    k: int | None
    metrics: dict
    baseline: dict
    baseline_recipe: str
    n_test: int
    task: str
    train_seconds: float
    options: dict = field(default_factory=dict)

    @property
    def lift(self) -> dict:
        return lift(self.metrics, self.baseline)

    def to_dict(self) -> dict:
        size_key = "n_test_users" if self.task == RECOMMENDATION else "n_test_rows"
        return {
            "recipe": self.recipe,
            "protocol": self.protocol,
            "k": self.k,
            "metrics": dict(self.metrics),
            "baseline": dict(self.baseline),
            "baseline_recipe": self.baseline_recipe,
            "lift": self.lift,
            size_key: self.n_test,
            "train_seconds": self.train_seconds,
            **self.options,
        }


def evaluate(
    recipe_name: str,
    params: dict | None,
    *,
    interactions: pd.DataFrame | None = None,
    items: pd.DataFrame | None = None,
    users: pd.DataFrame | None = None,
    table: pd.DataFrame | None = None,
    target: str | None = None,
    protocol: str | None = None,
    k: int = 10,
    seed: int = 42,
    sampled_negatives: int | None = None,
    test_fraction: float | None = None,
    callbacks: TrainingCallbacks | None = None,
    max_test_users: int | None = None,
    sampled_beside: bool = True,
) -> EvaluationReport:
    """Train ``recipe_name`` on a train split and report metrics beside the baseline's.

    ``protocol`` defaults to ``leave_last_out`` for recommendation and
    ``random_holdout`` for prediction; ``test_fraction`` defaults to 0.25 for
    recommendation holdout and 0.2 for tables.  ``sampled_negatives`` applies
    to ``leave_last_out`` only.  ``max_test_users`` scores a seeded sample of
    that many test users instead of all (recommendation only): scoring costs a
    pass over the catalogue per user, which dominates on large data; for the
    same reason ``sampled_beside=False`` leaves out the sampled ranking that
    full leave-last-out ranking otherwise reports under ``sampled``.
    """
    recipe = get_recipe(recipe_name)
    recipe.validate(params)
    if recipe.task == RECOMMENDATION:
        return _evaluate_recommendation(
            recipe_name,
            params,
            interactions,
            items,
            users,
            protocol or LEAVE_LAST_OUT,
            k,
            seed,
            sampled_negatives,
            test_fraction or 0.25,
            callbacks,
            max_test_users,
            sampled_beside,
        )
    if (protocol or RANDOM_HOLDOUT) != RANDOM_HOLDOUT:
        raise ValueError(f"prediction recipes support protocol {RANDOM_HOLDOUT!r} only, got {protocol!r}")
    return _evaluate_prediction(recipe, params, table, target, seed, test_fraction or 0.2, callbacks)


def _evaluate_recommendation(
    recipe_name: str,
    params: dict | None,
    interactions: pd.DataFrame | None,
    items: pd.DataFrame | None,
    users: pd.DataFrame | None,
    protocol: str,
    k: int,
    seed: int,
    sampled_negatives: int | None,
    test_fraction: float,
    callbacks: TrainingCallbacks | None,
    max_test_users: int | None = None,
    sampled_beside: bool = True,
) -> EvaluationReport:
    if interactions is None:
        raise DataError("evaluating a recommendation recipe needs interactions")
    if isinstance(interactions, pd.DataFrame):
        interactions = with_complete_timestamps(interactions)
    if protocol == LEAVE_LAST_OUT:
        train_split, test_split = leave_last_out_split(interactions)
    elif protocol == RANDOM_HOLDOUT:
        if sampled_negatives:
            raise ValueError("sampled_negatives applies to the leave_last_out protocol only")
        train_split, test_split = random_holdout_split(interactions, test_fraction, seed)
    else:
        raise ValueError(f"protocol must be {LEAVE_LAST_OUT!r} or {RANDOM_HOLDOUT!r}, got {protocol!r}")
    options: dict[str, Any] = {"sampled_negatives": sampled_negatives} if sampled_negatives else {}
    if max_test_users is not None:
        test_split, sampled = _sample_test_users(test_split, max_test_users, seed)
        if sampled:
            options["max_test_users"] = max_test_users
    started = time.perf_counter()
    trained = train(
        recipe_name, params, interactions=train_split, items=items, users=users, seed=seed, callbacks=callbacks
    )
    train_seconds = time.perf_counter() - started
    scorer = _recommendation_scorer(trained.scorer)
    baseline_scorer = _recommendation_scorer(train(BASELINE_RECIPE, {}, interactions=train_split, seed=seed).scorer)
    held_out = _held_out_positions(test_split, scorer, train_split)
    if not held_out:
        raise DataError("no user has two or more distinct items, so nothing can be held out for testing")
    metrics = ranking_metrics(scorer, held_out, k, seed=seed, sampled_negatives=sampled_negatives)
    baseline_metrics = ranking_metrics(
        baseline_scorer,
        _held_out_positions(test_split, baseline_scorer, train_split),
        k,
        seed=seed,
        sampled_negatives=sampled_negatives,
    )
    if protocol == LEAVE_LAST_OUT and not sampled_negatives and sampled_beside:
        options["sampled"] = _sampled_beside(scorer, baseline_scorer, held_out, test_split, train_split, k, seed)
    return EvaluationReport(
        recipe=recipe_name,
        protocol=protocol,
        k=k,
        metrics=metrics,
        baseline=baseline_metrics,
        baseline_recipe=BASELINE_RECIPE,
        n_test=len(held_out),
        task=RECOMMENDATION,
        train_seconds=train_seconds,
        options=options,
    )


# Negatives of the sampled ranking reported beside full ranking, for comparison with papers.
SAMPLED_BESIDE_NEGATIVES = 100


def _sampled_beside(
    scorer: RecommendationScorer,
    baseline_scorer: RecommendationScorer,
    held_out: dict[int, list[int]],
    test_split: pd.DataFrame,
    train_split: pd.DataFrame,
    k: int,
    seed: int,
) -> dict:
    """Leave-last-out metrics of model and baseline with the held-out item among 100 sampled ones."""
    options = {"seed": seed, "sampled_negatives": SAMPLED_BESIDE_NEGATIVES}
    baseline_held_out = _held_out_positions(test_split, baseline_scorer, train_split)
    return {
        "negatives": SAMPLED_BESIDE_NEGATIVES,
        "metrics": ranking_metrics(scorer, held_out, k, **options),
        "baseline": ranking_metrics(baseline_scorer, baseline_held_out, k, **options),
    }


def _recommendation_scorer(scorer: Scorer) -> RecommendationScorer:
    # A recommendation recipe always trains a RecommendationScorer; a mismatch is a bug in the recipe.
    if not isinstance(scorer, RecommendationScorer):
        raise TypeError(f"expected a recommendation scorer, got {type(scorer).__name__}")
    return scorer


def _sample_test_users(test: Any, n: int, seed: int) -> tuple[Any, bool]:
    """At most ``n`` test users' rows (a seeded sample) and whether any were left out."""
    row_users = _id_columns(test)[0]
    user_ids = np.unique(row_users)
    if len(user_ids) <= n:
        return test, False
    chosen = np.random.default_rng(seed).choice(user_ids, size=n, replace=False)
    if isinstance(test, InteractionArrays):
        return test.take(np.isin(row_users, chosen)), True
    return test[test["user_id"].astype(str).isin(chosen)], True


def _held_out_positions(test: Any, scorer: RecommendationScorer, train_split: Any) -> dict:
    """{user position: held-out item positions} limited to items seen in training."""
    user_lookup = {user_id: position for position, user_id in enumerate(scorer.user_ids.tolist())}
    trained_items = _item_ids_of(train_split)
    item_lookup = {
        item_id: position for position, item_id in enumerate(scorer.item_ids.tolist()) if item_id in trained_items
    }
    held_out: dict[int, list[int]] = {}
    for user_id, item_id in zip(*_id_columns(test), strict=True):
        if user_id in user_lookup and item_id in item_lookup:
            held_out.setdefault(user_lookup[user_id], []).append(item_lookup[item_id])
    return held_out


def ranking_metrics(
    scorer: RecommendationScorer, held_out: dict, k: int, *, seed: int, sampled_negatives: int | None = None
) -> dict:
    """Mean per-user ranking metrics; coverage is always over full-catalogue top-k lists."""
    candidates = _training_item_mask(scorer)
    tie_priority = np.random.default_rng(seed).random(scorer.n_items)
    negative_rng = np.random.default_rng(seed)
    per_user: dict[str, list[float]] = {name: [] for name in ("hr", "ndcg", "precision", "recall", "map")}
    top_lists = []
    users = sorted(held_out)
    if not sampled_negatives and scorer.has_fast_top_k:
        # Top-k without a full score row per user: the cost follows the user, not the catalogue.
        not_candidates = np.flatnonzero(~candidates)
        for user in users:
            top = scorer.top_k_of_known_user(int(user), k, not_candidates)
            top_lists.append(top.tolist())
            _append_ranking_metrics(per_user, top.tolist(), set(held_out[user]), k)
        return _mean_metrics(per_user, top_lists, candidates, k)
    for first in range(0, len(users), _USERS_PER_BATCH):
        batch = np.asarray(users[first : first + _USERS_PER_BATCH])
        scores = np.array(scorer.score_users(batch), dtype=np.float64)
        scores[:, ~candidates] = -np.inf
        for row, user in enumerate(batch):
            seen = scorer.seen_positions(int(user))
            user_scores = scores[row]
            user_scores[seen] = -np.inf
            top = top_k_positions(user_scores, k)
            top_lists.append(top.tolist())
            relevant = set(held_out[user])
            if sampled_negatives:
                ranked = _rank_with_sampled_negatives(
                    user_scores, held_out[user], sampled_negatives, negative_rng, tie_priority
                )
            else:
                ranked = top.tolist()
            _append_ranking_metrics(per_user, ranked, relevant, k)
    return _mean_metrics(per_user, top_lists, candidates, k)


def _append_ranking_metrics(per_user: dict, ranked: list, relevant: set, k: int) -> None:
    per_user["hr"].append(hit_rate_at_k(ranked, relevant, k))
    per_user["ndcg"].append(ndcg_at_k(ranked, relevant, k))
    per_user["precision"].append(precision_at_k(ranked, relevant, k))
    per_user["recall"].append(recall_at_k(ranked, relevant, k))
    per_user["map"].append(average_precision_at_k(ranked, relevant, k))


def _mean_metrics(per_user: dict, top_lists: list, candidates: np.ndarray, k: int) -> dict:
    metrics = {f"{name}@{k}": float(np.mean(values)) for name, values in per_user.items()}
    metrics["coverage"] = coverage(top_lists, int(candidates.sum()))
    return metrics


def _training_item_mask(scorer: RecommendationScorer) -> np.ndarray:
    """Items with at least one training interaction (feature-only items are not candidates)."""
    mask = np.zeros(scorer.n_items, dtype=bool)
    mask[scorer.history_indices] = True
    return mask


def _rank_with_sampled_negatives(
    scores: np.ndarray, positives: list[int], n_negatives: int, rng: np.random.Generator, tie_priority: np.ndarray
) -> list[int]:
    """Held-out items plus ``n_negatives`` sampled unseen candidates, best first."""
    pool = np.flatnonzero(np.isfinite(scores))
    pool = pool[~np.isin(pool, positives)]
    negatives = rng.choice(pool, size=min(n_negatives, len(pool)), replace=False)
    candidates = np.concatenate([np.asarray(positives), negatives])
    order = np.lexsort((-tie_priority[candidates], -scores[candidates]))
    return candidates[order].tolist()


def _evaluate_prediction(
    recipe: Recipe,
    params: dict | None,
    table: pd.DataFrame | None,
    target: str | None,
    seed: int,
    test_fraction: float,
    callbacks: TrainingCallbacks | None,
) -> EvaluationReport:
    # Validate the whole table first so problems are reported against what the caller passed.
    recipe.prepare(table=table, target=target)
    if target is None:  # prepare() refuses it first; this tells the type checker
        raise DataError("a prediction recipe needs a target column")
    train_split, test_split = stratified_table_split(
        table, target, test_fraction, seed, classification=recipe.is_classifier
    )
    if len(test_split) == 0:
        raise DataError("the table is too small to hold out any test rows")
    started = time.perf_counter()
    trained = train(recipe.name, params, table=train_split, target=target, seed=seed, callbacks=callbacks)
    train_seconds = time.perf_counter() - started
    scorer = trained.scorer
    if not isinstance(scorer, PredictorScorer):
        raise TypeError(f"expected a predictor, got {type(scorer).__name__}")  # a prediction recipe's bug
    outputs = scorer.predict_encoded(encode_frame(scorer.encoder, test_split.drop(columns=[target])))
    train_target = train_split[target].to_numpy()
    classes = scorer.classes  # None for a regressor
    if classes is not None:
        index = {str(label): position for position, label in enumerate(classes)}
        y_true = np.array([index.get(str(label), -1) for label in test_split[target]])
        known = y_true >= 0
        counts = np.array([np.sum(train_target.astype(str) == str(label)) for label in classes], np.float64)
        prior = np.tile(counts / counts.sum(), (len(y_true), 1))
        metrics = classification_metrics(y_true[known], outputs[known])
        baseline = classification_metrics(y_true[known], prior[known])
    else:
        y_true = test_split[target].to_numpy(dtype=np.float64)
        metrics = regression_metrics(y_true, outputs)
        baseline = regression_metrics(y_true, np.full(len(y_true), float(np.mean(train_target.astype(float)))))
    return EvaluationReport(
        recipe=recipe.name,
        protocol=RANDOM_HOLDOUT,
        k=None,
        metrics=metrics,
        baseline=baseline,
        baseline_recipe="majority_class" if recipe.is_classifier else "mean",
        n_test=len(test_split),
        task=recipe.task,
        train_seconds=train_seconds,
    )


def classification_metrics(y_true: np.ndarray, probabilities: np.ndarray) -> dict:
    predicted = np.argmax(probabilities, axis=1)
    precision, recall, f1 = precision_recall_f1(y_true, predicted, probabilities.shape[1])
    return {
        "accuracy": accuracy(y_true, predicted),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "roc_auc": multiclass_roc_auc(y_true, probabilities),
        "log_loss": log_loss(y_true, probabilities),
    }


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    return {"rmse": rmse(y_true, y_pred), "mae": mae(y_true, y_pred), "r2": r2(y_true, y_pred)}
