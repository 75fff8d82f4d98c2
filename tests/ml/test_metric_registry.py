"""The metric registry: one table says which metrics each kind of model reports and which way is better."""

from recommender.ml import get_recipe, list_recipes
from recommender.ml.metrics import default_metric, is_better, lower_is_better, metric_names


def test_every_recipe_declares_a_default_metric_its_kind_reports_and_the_dataset_it_trains_on():
    for recipe in list_recipes():
        assert recipe.default_metric == metric_names(recipe.kind)[0]
        assert recipe.dataset_kind == ("interactions" if recipe.task == "recommendation" else "tabular")
    assert get_recipe("ease").default_metric == "ndcg@10"
    assert get_recipe("mlp_classifier").default_metric == "roc_auc"
    assert get_recipe("mlp_regressor").default_metric == "rmse"


def test_direction_is_known_with_or_without_a_cut_off():
    assert lower_is_better("rmse") and lower_is_better("log_loss") and not lower_is_better("ndcg@5")
    assert is_better("rmse", 0.9, 1.0) and not is_better("rmse", 1.1, 1.0)
    assert is_better("ndcg@10", 0.31, 0.30) and not is_better("hr@20", 0.2, 0.3)


def test_the_metric_names_match_what_evaluation_reports(small_planted):
    from recommender.ml import evaluate

    report = evaluate("popularity", {}, interactions=small_planted.interactions, k=10, seed=0)

    assert set(metric_names("recommendation")) <= set(report.metrics)
    assert default_metric("recommendation", k=5) == "ndcg@5"
