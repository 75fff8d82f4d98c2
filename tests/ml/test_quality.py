"""Learned recipes beat their baselines on data with planted structure, reproducibly."""

import pytest

from recommender.ml import evaluate

from .conftest import FAST_MLP, FAST_NEUMF, FAST_TWO_TOWER


@pytest.fixture(scope="module")
def neumf_report(planted):
    return evaluate("neumf", FAST_NEUMF, interactions=planted.interactions, protocol="leave_last_out", seed=3)


def test_neumf_beats_popularity(neumf_report):
    assert neumf_report.metrics["ndcg@10"] > neumf_report.baseline["ndcg@10"] * 1.2


def test_neumf_same_seed_same_metrics(planted, neumf_report):
    again = evaluate("neumf", FAST_NEUMF, interactions=planted.interactions, protocol="leave_last_out", seed=3)
    assert again.metrics == neumf_report.metrics


@pytest.mark.parametrize(
    "recipe, params, with_features",
    [
        ("ease", {}, False),
        ("two_tower", FAST_TWO_TOWER, True),
    ],
)
def test_recipe_beats_popularity(planted, recipe, params, with_features):
    features = {"items": planted.items, "users": planted.users} if with_features else {}
    report = evaluate(recipe, params, interactions=planted.interactions, protocol="leave_last_out", **features)
    assert report.metrics["ndcg@10"] > report.baseline["ndcg@10"] * 1.2
    assert report.to_dict()["n_test_users"] == 500


def test_report_shape_with_sampled_negatives(planted):
    report = evaluate("ease", {}, interactions=planted.interactions, sampled_negatives=99, k=5)
    summary = report.to_dict()
    assert summary["protocol"] == "leave_last_out" and summary["k"] == 5 and summary["sampled_negatives"] == 99
    assert set(summary["metrics"]) == {"hr@5", "ndcg@5", "precision@5", "recall@5", "map@5", "coverage"}
    assert summary["lift"]["ndcg@5"] > 0
    # Among 100 candidates a hit is far likelier than among the whole catalogue.
    full = evaluate("ease", {}, interactions=planted.interactions, k=5)
    assert report.metrics["hr@5"] > full.metrics["hr@5"]


def test_random_holdout_protocol(planted):
    report = evaluate("ease", {}, interactions=planted.interactions, protocol="random_holdout")
    assert report.metrics["recall@10"] > report.baseline["recall@10"]


@pytest.fixture(scope="module")
def classifier_report(churn_table):
    return evaluate("mlp_classifier", FAST_MLP, table=churn_table, target="churned", seed=4)


def test_classifier_beats_majority(classifier_report):
    metrics, baseline = classifier_report.metrics, classifier_report.baseline
    assert metrics["accuracy"] > baseline["accuracy"] + 0.03
    # Flipped labels are unpredictable, which caps the reachable AUC near 0.9.
    assert metrics["roc_auc"] > 0.8 and baseline["roc_auc"] == 0.5
    assert metrics["log_loss"] < baseline["log_loss"]
    assert classifier_report.to_dict()["n_test_rows"] == 300


def test_classifier_same_seed_same_metrics(churn_table, classifier_report):
    again = evaluate("mlp_classifier", FAST_MLP, table=churn_table, target="churned", seed=4)
    assert again.metrics == classifier_report.metrics


def test_regressor_beats_mean(regression_table):
    report = evaluate("mlp_regressor", FAST_MLP, table=regression_table, target="target")
    assert report.metrics["rmse"] < 0.5 * report.baseline["rmse"]
    assert report.metrics["r2"] > 0.8
    assert report.lift["rmse"] > 0.5
