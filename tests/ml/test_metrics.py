"""Metric functions against small hand-computed cases."""

import math

import numpy as np
import pytest

from recommender.ml import evaluation as ev


def test_ranking_metrics_hand_computed():
    ranked = ["a", "b", "c", "d"]
    relevant = {"b", "d", "z"}
    assert ev.hit_rate_at_k(ranked, relevant, 2) == 1.0
    assert ev.hit_rate_at_k(ranked, relevant, 1) == 0.0
    assert ev.precision_at_k(ranked, relevant, 4) == 0.5
    assert ev.recall_at_k(ranked, relevant, 4) == pytest.approx(2 / 3)
    # Hits at positions 2 and 4: DCG = 1/log2(3) + 1/log2(5); ideal has 3 hits in the top 3.
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ev.ndcg_at_k(ranked, relevant, 4) == pytest.approx(dcg / ideal)
    # Precision at the hits: 1/2 and 2/4, over min(k, |relevant|) = 3.
    assert ev.average_precision_at_k(ranked, relevant, 4) == pytest.approx((0.5 + 0.5) / 3)


def test_single_relevant_item_ndcg():
    assert ev.ndcg_at_k(["x", "y", "z"], {"z"}, 10) == pytest.approx(0.5)
    assert ev.ndcg_at_k(["x"], {"x"}, 10) == 1.0
    assert ev.ndcg_at_k(["x"], set(), 10) == 0.0


def test_coverage():
    assert ev.coverage([["a", "b"], ["b", "c"]], 6) == 0.5
    assert ev.coverage([], 0) == 0.0


def test_classification_metrics():
    y_true = [0, 1, 1, 0, 1]
    y_pred = [0, 1, 0, 0, 1]
    assert ev.accuracy(y_true, y_pred) == 0.8
    precision, recall, f1 = ev.precision_recall_f1(y_true, y_pred, n_classes=2)
    assert (precision, recall) == (1.0, pytest.approx(2 / 3))
    assert f1 == pytest.approx(0.8)


def test_roc_auc_counts_ordered_pairs_and_ties():
    # Pairs (pos, neg): (0.8,0.1) ok, (0.8,0.4) ok, (0.35,0.1) ok, (0.35,0.4) wrong -> 3/4.
    assert ev.roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    assert ev.roc_auc([0, 1], [0.5, 0.5]) == 0.5
    assert ev.roc_auc([1, 1], [0.2, 0.3]) is None


def test_log_loss():
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8]])
    assert ev.log_loss([0, 1], probabilities) == pytest.approx(-(math.log(0.9) + math.log(0.8)) / 2)


def test_regression_metrics():
    y_true, y_pred = [1.0, 2.0, 3.0], [1.0, 2.0, 5.0]
    assert ev.rmse(y_true, y_pred) == pytest.approx(math.sqrt(4 / 3))
    assert ev.mae(y_true, y_pred) == pytest.approx(2 / 3)
    assert ev.r2(y_true, y_pred) == pytest.approx(1 - 4 / 2)
    assert ev.r2([2.0, 2.0], [1.0, 3.0]) is None


def test_lift_respects_metric_direction():
    lift = ev.lift({"ndcg@10": 0.3, "rmse": 1.0, "r2": None}, {"ndcg@10": 0.2, "rmse": 2.0, "r2": 0.1})
    assert lift == {"ndcg@10": pytest.approx(0.5), "rmse": pytest.approx(0.5), "r2": None}
