"""The metric registry: every offline metric the platform reports, for which kind of model, and which way is better.

Evaluation, tuning, auto-deploy, the portal's forms and its reports all read
this one table, so a metric is added (or its direction fixed) in one place.
Ranking metrics are registered by their family (``ndcg``) and named with a
cut-off (``ndcg@10``).
"""

from __future__ import annotations

from dataclasses import dataclass

RECOMMENDATION = "recommendation"
CLASSIFIER = "classifier"
REGRESSOR = "regressor"
DEFAULT_K = 10


@dataclass(frozen=True)
class Metric:
    """One metric: ``family`` is its name without a cut-off; ``at_k`` says whether it takes one."""

    family: str
    kind: str
    label: str
    lower_is_better: bool = False
    at_k: bool = False

    def name(self, k: int = DEFAULT_K) -> str:
        return f"{self.family}@{k}" if self.at_k else self.family


METRICS: tuple[Metric, ...] = (
    Metric("ndcg", RECOMMENDATION, "NDCG", at_k=True),
    Metric("hr", RECOMMENDATION, "hit rate", at_k=True),
    Metric("map", RECOMMENDATION, "mean average precision", at_k=True),
    Metric("precision", RECOMMENDATION, "precision", at_k=True),
    Metric("recall", RECOMMENDATION, "recall", at_k=True),
    Metric("coverage", RECOMMENDATION, "catalogue coverage"),
    Metric("roc_auc", CLASSIFIER, "ROC AUC"),
    Metric("accuracy", CLASSIFIER, "accuracy"),
    Metric("f1", CLASSIFIER, "F1"),
    Metric("precision", CLASSIFIER, "precision"),
    Metric("recall", CLASSIFIER, "recall"),
    Metric("log_loss", CLASSIFIER, "log loss", lower_is_better=True),
    Metric("rmse", REGRESSOR, "RMSE", lower_is_better=True),
    Metric("mae", REGRESSOR, "MAE", lower_is_better=True),
    Metric("r2", REGRESSOR, "R²"),
)
# The metric that decides "if better" deployments and tuning when none is named, per kind of model.
DEFAULT_METRIC = {RECOMMENDATION: "ndcg", CLASSIFIER: "roc_auc", REGRESSOR: "rmse"}


def metric_names(kind: str, k: int = DEFAULT_K) -> list[str]:
    """The names of the metrics a model of ``kind`` reports, its default first."""
    names = [metric.name(k) for metric in METRICS if metric.kind == kind]
    default = default_metric(kind, k)
    return [default] + [name for name in names if name != default]


def default_metric(kind: str, k: int = DEFAULT_K) -> str:
    """The default metric's name for a model of ``kind``."""
    family = DEFAULT_METRIC[kind]
    return next(metric.name(k) for metric in METRICS if metric.kind == kind and metric.family == family)


def is_default_metric(name: str) -> bool:
    """Whether ``name`` is the default metric of some kind of model (reports list those first)."""
    family = name.partition("@")[0]
    return any(family == default for default in DEFAULT_METRIC.values())


def lower_is_better(name: str) -> bool:
    """Whether smaller values of the metric ``name`` (with or without a cut-off) are better."""
    family = name.partition("@")[0]
    return any(metric.family == family and metric.lower_is_better for metric in METRICS)


def is_better(name: str, new: float, old: float) -> bool:
    """Whether ``new`` beats ``old`` on the metric ``name``."""
    return new < old if lower_is_better(name) else new > old
