"""tune(): bounded random search returning every trial and the best one."""

import pytest

from recommender.ml import InvalidParams, tune


def test_tune_ease_over_l2(planted):
    result = tune(
        "ease", {"l2": {"min": 1.0, "max": 2000.0, "log": True}}, interactions=planted.interactions, n_trials=4, seed=1
    )
    assert result.metric == "ndcg@10"
    assert len(result.trials) == 4
    scores = [trial["score"] for trial in result.trials]
    assert result.best_score == max(scores)
    assert result.best_params in [trial["params"] for trial in result.trials]
    assert all(1.0 <= trial["params"]["l2"] <= 2000.0 for trial in result.trials)
    assert result.to_dict()["best_params"]["l2"] == result.best_params["l2"]


def test_tune_stops_when_the_space_is_exhausted(planted):
    result = tune("ease", {"l2": {"choices": [50.0, 500.0]}}, interactions=planted.interactions, n_trials=8)
    assert sorted(trial["params"]["l2"] for trial in result.trials) == [50.0, 500.0]


def test_tune_minimises_lower_is_better_metrics(regression_table):
    result = tune(
        "mlp_regressor",
        {"epochs": 3, "hidden_layers": {"choices": [[8], [32, 16]]}},
        table=regression_table,
        target="target",
        n_trials=2,
        seed=3,
    )
    assert result.metric == "rmse"
    assert result.best_score == min(trial["score"] for trial in result.trials)


def test_tune_rejects_bad_space_and_metric(planted):
    with pytest.raises(InvalidParams):
        tune("ease", {"l2": {"min": 0.0, "max": 10.0}}, interactions=planted.interactions)
    with pytest.raises(ValueError, match="unknown metric"):
        tune("ease", {}, interactions=planted.interactions, metric="auc")
    with pytest.raises(ValueError, match="n_trials"):
        tune("ease", {}, interactions=planted.interactions, n_trials=0)
