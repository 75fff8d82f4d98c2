"""Splits, interaction preparation and the shared feature encoder."""

import math

import numpy as np
import pandas as pd
import pytest

from recommender.ml.data import encode_frame, fit_feature_encoder, prepare_interactions, with_complete_timestamps
from recommender.ml.encoding import FeatureEncoder
from recommender.ml.errors import PredictionInputError
from recommender.ml.evaluation import leave_last_out_split, random_holdout_split, stratified_table_split


def test_leave_last_out_holds_out_latest_distinct_item():
    interactions = pd.DataFrame(
        {
            "user_id": ["a", "a", "a", "a", "b", "c", "c"],
            "item_id": ["x", "y", "x", "z", "x", "y", "y"],
            "timestamp": [1.0, 2.0, 5.0, 3.0, 1.0, 1.0, 2.0],
        }
    )
    train, test = leave_last_out_split(interactions)
    # a's latest is a repeat of x, so every x row leaves training; b and c have one distinct item.
    assert test[["user_id", "item_id"]].values.tolist() == [["a", "x"]]
    assert sorted(train[train.user_id == "a"].item_id) == ["y", "z"]
    assert len(train) == 5


def test_leave_last_out_uses_row_order_without_timestamps():
    interactions = pd.DataFrame({"user_id": ["a", "a", "a"], "item_id": ["p", "q", "r"]})
    _, test = leave_last_out_split(interactions)
    assert test.item_id.tolist() == ["r"]


def test_missing_timestamps_take_the_previous_rows_and_all_missing_means_row_order():
    partial = pd.DataFrame(
        {
            "user_id": ["a", "a", "a", "a", "b"],
            "item_id": ["p", "q", "r", "s", "p"],
            "timestamp": [None, 10, None, 5, 7],
        }
    )
    assert with_complete_timestamps(partial).timestamp.tolist() == [10.0, 10.0, 10.0, 5.0, 7.0]
    # "r" arrived after "q" without a time of its own: it is not the latest, "q" and "r" tie after "s".
    _, test = leave_last_out_split(with_complete_timestamps(partial))
    assert test.item_id.tolist() == ["r"]

    none = partial.assign(timestamp=[None] * 5)
    assert "timestamp" not in with_complete_timestamps(none).columns
    assert prepare_interactions(none).timestamps is None
    assert prepare_interactions(partial).snapshot()["latest_timestamp"] == 10.0


def test_random_holdout_takes_a_quarter_of_each_users_items(planted):
    train, test = random_holdout_split(planted.interactions, 0.25, seed=1)
    per_user = test.groupby("user_id").size()
    totals = planted.interactions.groupby("user_id").item_id.nunique()
    expected = np.clip(np.round(0.25 * totals), 1, totals - 1)
    assert (per_user == expected.loc[per_user.index]).all()
    merged = train.merge(test, on=["user_id", "item_id"])
    assert merged.empty
    again_train, again_test = random_holdout_split(planted.interactions, 0.25, seed=1)
    assert again_test.equals(test)


def test_stratified_split_keeps_every_class_in_training():
    table = pd.DataFrame({"x": range(20), "y": ["a"] * 18 + ["b"] * 2})
    train, test = stratified_table_split(table, "y", 0.5, seed=0, classification=True)
    assert set(train.y) == {"a", "b"} and len(test) == 10


def test_prepare_interactions_indexes_ids_and_timestamps():
    interactions = pd.DataFrame(
        {
            "user_id": [2, 1, 2],
            "item_id": ["b", "a", "a"],
            "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"], utc=True),
        }
    )
    data = prepare_interactions(interactions)
    assert data.user_ids.tolist() == ["1", "2"] and data.item_ids.tolist() == ["a", "b"]
    assert data.item_ids[data.item_index].tolist() == ["b", "a", "a"]
    assert data.snapshot()["latest_timestamp"] == pd.Timestamp("2024-01-03", tz="UTC").timestamp()


def test_encoder_rows_match_columns_and_handle_unknowns():
    frame = pd.DataFrame(
        {
            "age": [20.0, None, 40.0, 30.0],
            "plan": ["basic", "pro", None, "basic"],
            "tags": ["a|b", "b", "c", None],
            "active": [True, False, True, True],
        }
    )
    encoder = fit_feature_encoder(frame)
    matrix = encode_frame(encoder, frame)
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    assert np.allclose(encoder.transform_rows(rows), matrix)
    restored = FeatureEncoder.from_state(encoder.to_state())
    encoded = restored.transform_rows([{"age": math.nan, "plan": "gold", "tags": "b|zzz", "active": 1}])[0]
    plan = next(spec for spec in encoder.specs if spec["name"] == "plan")
    assert plan["vocabulary"] == ["__missing__", "basic", "pro"]
    age = encoder.specs[0]
    assert age["indicator"] and age["fill"] == 30.0
    # age (value, indicator), plan (3 + unknown), tags (a, b, c, __missing__ + unknown), active.
    assert encoded.shape == (2 + 4 + 5 + 1,)
    assert encoded[1] == 1.0  # missing-age indicator
    assert encoded[5] == 1.0  # unknown plan slot
    # tags vocabulary is sorted: __missing__, a, b, c; then the unknown slot.
    assert encoded[6 + 2] == 0.5 and encoded[6 + 4] == 0.5  # "b" and unknown "zzz" share the weight


def test_encoder_skips_free_text_columns():
    frame = pd.DataFrame({"title": [f"title {i}" for i in range(30)], "n": range(30)})
    assert fit_feature_encoder(frame).input_columns == ["n"]


def test_encoder_rejects_non_mapping_rows():
    encoder = fit_feature_encoder(pd.DataFrame({"n": [1.0, 2.0]}))
    with pytest.raises(PredictionInputError, match="row 0"):
        encoder.transform_rows(["not a dict"])
