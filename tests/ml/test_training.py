"""train(): callbacks, cancellation, data errors and parameter errors."""

import pandas as pd
import pytest

from recommender.ml import DataError, InvalidParams, TrainingCallbacks, TrainingCancelled, train


def test_on_epoch_called_once_per_epoch_with_loss(small_planted):
    calls = []
    trained = train(
        "neumf",
        {"epochs": 3},
        interactions=small_planted.interactions,
        callbacks=TrainingCallbacks(on_epoch=lambda epoch, total, logs: calls.append((epoch, total, logs))),
    )
    assert [(epoch, total) for epoch, total, _ in calls] == [(1, 3), (2, 3), (3, 3)]
    assert all(isinstance(logs["loss"], float) for _, _, logs in calls)
    assert [entry["epoch"] for entry in trained.history] == [1, 2, 3]
    assert trained.snapshot["users"] == 60 and trained.snapshot["latest_timestamp"] is not None


def test_cancellation_between_epochs(small_planted):
    epochs_seen = []
    callbacks = TrainingCallbacks(
        on_epoch=lambda epoch, total, logs: epochs_seen.append(epoch), should_cancel=lambda: len(epochs_seen) >= 2
    )
    with pytest.raises(TrainingCancelled) as caught:
        train(
            "two_tower", {"epochs": 10, "batch_size": 64}, interactions=small_planted.interactions, callbacks=callbacks
        )
    assert epochs_seen == [1, 2] and caught.value.epoch == 2


def test_cancellation_before_start_for_closed_form_recipe(small_planted):
    with pytest.raises(TrainingCancelled):
        train(
            "ease", {}, interactions=small_planted.interactions, callbacks=TrainingCallbacks(should_cancel=lambda: True)
        )


def test_classifier_logs_validation_metrics(churn_table):
    logs = []
    train(
        "mlp_classifier",
        {"epochs": 2},
        table=churn_table,
        target="churned",
        callbacks=TrainingCallbacks(on_epoch=lambda epoch, total, entry: logs.append(entry)),
    )
    assert {"loss", "val_loss", "val_accuracy"} <= set(logs[0])


def test_invalid_params_raised_inside_train(small_planted):
    with pytest.raises(InvalidParams) as caught:
        train("neumf", {"epochs": 0}, interactions=small_planted.interactions)
    assert "epochs" in caught.value.errors


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"interactions": pd.DataFrame({"user": ["a"], "item_id": ["x"]})}, "missing required column(s) user_id"),
        ({"interactions": pd.DataFrame({"user_id": ["a", "a"], "item_id": ["x", "y"]})}, "at least 2 users"),
        ({"interactions": None}, "needs an interactions table"),
    ],
)
def test_interaction_data_errors(kwargs, message):
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        train("ease", {}, **kwargs)


def test_time_decay_needs_timestamps():
    interactions = pd.DataFrame({"user_id": ["a", "b"], "item_id": ["x", "y"]})
    with pytest.raises(DataError, match="timestamp"):
        train("popularity", {"half_life_days": 30}, interactions=interactions)


def test_ease_refuses_catalogues_over_the_cap(small_planted):
    with pytest.raises(DataError, match="max_items=10"):
        train("ease", {"max_items": 10}, interactions=small_planted.interactions)


def test_table_data_errors(churn_table):
    with pytest.raises(DataError, match="target column 'missing' not found"):
        train("mlp_classifier", {}, table=churn_table, target="missing")
    single_class = churn_table.assign(churned=False)
    with pytest.raises(DataError, match="single class"):
        train("mlp_classifier", {}, table=single_class, target="churned")
    with pytest.raises(DataError, match="must be numeric"):
        train("mlp_regressor", {}, table=churn_table.assign(score="high"), target="score")
    with pytest.raises(DataError, match="at least 10 rows"):
        train("mlp_regressor", {}, table=churn_table.head(5), target="monthly_spend")


def test_time_decay_favours_recent_items():
    interactions = pd.DataFrame(
        {
            "user_id": ["a", "b", "c", "d"],
            "item_id": ["old", "old", "new", "other"],
            "timestamp": pd.to_datetime(["2020-01-01", "2020-01-02", "2024-01-01", "2023-12-31"]),
        }
    )
    plain = train("popularity", {}, interactions=interactions).scorer
    decayed = train("popularity", {"half_life_days": 30}, interactions=interactions).scorer
    assert plain.recommend("z", k=1)[0][0] == "old"
    assert decayed.recommend("z", k=1)[0][0] == "new"
