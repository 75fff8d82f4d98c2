"""Compact interaction arrays: built chunk by chunk, they train and split exactly as the frame they encode."""

import math

import numpy as np
import pandas as pd
import pytest

from recommender.ml import evaluate, train
from recommender.ml.arrays import InteractionArrays, InteractionArraysBuilder
from recommender.ml.data import prepare_interactions
from recommender.ml.evaluation import leave_last_out_split, random_holdout_split
from recommender.ml.selection import data_shape


def as_arrays(frame: pd.DataFrame, chunk_rows: int = 7) -> InteractionArrays:
    """What a chunked reader builds from ``frame``: several small chunks, so ids arrive across chunks."""
    builder = InteractionArraysBuilder()
    for first in range(0, len(frame), chunk_rows):
        chunk = frame.iloc[first : first + chunk_rows]
        builder.add(
            chunk["user_id"].astype(str).to_numpy(),
            chunk["item_id"].astype(str).to_numpy(),
            chunk["timestamp"].to_numpy(dtype=float) if "timestamp" in chunk else None,
            chunk["value"].to_numpy(dtype=float) if "value" in chunk else None,
        )
    return builder.build()


def pairs(split) -> list[tuple[str, str]]:
    if isinstance(split, InteractionArrays):
        return list(zip(split.user_id_per_row().tolist(), split.item_id_per_row().tolist(), strict=True))
    return list(zip(split["user_id"].astype(str), split["item_id"].astype(str), strict=True))


@pytest.mark.parametrize("capacity", [0, 3, 4])
def test_chunks_encode_ids_once_and_complete_timestamps(capacity):
    builder = InteractionArraysBuilder(capacity=capacity)
    builder.add(["b", "a"], ["x", "y"], [math.nan, 10.0], [math.nan, 2.0], ["view", "buy"])
    builder.add(["b", "c"], ["y", "x"], [math.nan, 5.0], [math.nan, math.nan], ["view", "view"])
    arrays = builder.build()
    assert arrays.user_ids.tolist() == ["b", "a", "c"] and arrays.item_ids.tolist() == ["x", "y"]
    assert arrays.user_index.dtype == np.int32 and arrays.user_index.tolist() == [0, 1, 0, 2]
    assert arrays.item_index.tolist() == [0, 1, 1, 0]
    # A row without a time takes the one before it; leading ones take the first known.
    assert arrays.timestamps.tolist() == [10.0, 10.0, 10.0, 5.0]
    assert arrays.weights.dtype == np.float32 and arrays.weights[1] == 2.0 and np.isnan(arrays.weights[0])
    assert arrays.event_types[arrays.event_index].tolist() == ["view", "buy", "view", "view"]
    assert arrays.nbytes == 4 * (4 + 4 + 8 + 4 + 2)


def test_without_times_or_values_the_arrays_say_so():
    builder = InteractionArraysBuilder()
    builder.add(["a", "b"], ["x", "x"])
    arrays = builder.build()
    assert arrays.timestamps is None and arrays.weights is None and arrays.event_index is None
    empty = InteractionArraysBuilder().build()
    assert empty.n_rows == 0 and empty.user_ids.tolist() == []


def test_prepared_arrays_equal_the_prepared_frame(planted):
    frame = planted.interactions
    arrays = as_arrays(frame)
    from_frame, from_arrays = prepare_interactions(frame), prepare_interactions(arrays)
    for name in ("user_ids", "item_ids", "user_index", "item_index", "timestamps"):
        assert np.array_equal(getattr(from_frame, name), getattr(from_arrays, name)), name
    assert data_shape(arrays) == data_shape(frame)
    # Feature-only catalogue items join it the same way (recipes scoring items from features).
    items = pd.concat([planted.items, pd.DataFrame({"item_id": ["zz-new"], "genre": ["rock"]})], ignore_index=True)
    with_items = prepare_interactions(arrays, items, include_feature_only_items=True)
    assert np.array_equal(
        with_items.item_ids, prepare_interactions(frame, items, include_feature_only_items=True).item_ids
    )
    assert "zz-new" in with_items.item_ids.tolist()


def test_too_little_data_is_refused_the_same_way():
    one_user = pd.DataFrame({"user_id": ["a", "a"], "item_id": ["x", "y"]})
    with pytest.raises(Exception, match="at least 2 users") as from_arrays:
        prepare_interactions(as_arrays(one_user))
    with pytest.raises(Exception, match="at least 2 users") as from_frame:
        prepare_interactions(one_user)
    assert str(from_arrays.value) == str(from_frame.value)


def test_leave_last_out_on_arrays_holds_out_what_the_frame_split_does(planted):
    toy = pd.DataFrame(
        {
            "user_id": ["a", "a", "a", "a", "b", "c", "c"],
            "item_id": ["x", "y", "x", "z", "x", "y", "y"],
            "timestamp": [1.0, 2.0, 5.0, 3.0, 1.0, 1.0, 2.0],
        }
    )
    for frame in (toy, planted.interactions, planted.interactions.drop(columns="timestamp")):
        train_frame, test_frame = leave_last_out_split(frame)
        train_arrays, test_arrays = leave_last_out_split(as_arrays(frame))
        assert isinstance(train_arrays, InteractionArrays)
        assert pairs(test_arrays) == pairs(test_frame)
        assert pairs(train_arrays) == pairs(train_frame)


def test_random_holdout_on_arrays_holds_out_a_share_of_each_users_items(planted):
    frame = planted.interactions
    train_split, test_split = random_holdout_split(as_arrays(frame), 0.25, seed=1)
    test_pairs = pairs(test_split)
    assert len(set(test_pairs)) == len(test_pairs)
    assert not set(test_pairs) & set(pairs(train_split))
    assert len(pairs(train_split)) + frame.merge(pd.DataFrame(test_pairs, columns=["user_id", "item_id"])).shape[
        0
    ] == len(frame)
    per_user = pd.Series([user for user, _ in test_pairs]).value_counts()
    totals = frame.groupby("user_id").item_id.nunique()
    expected = np.clip(np.round(0.25 * totals), 1, totals - 1)
    assert (per_user == expected.loc[per_user.index]).all()
    assert pairs(random_holdout_split(as_arrays(frame), 0.25, seed=1)[1]) == test_pairs


def test_a_model_trained_and_evaluated_on_arrays_equals_the_one_from_the_frame(planted):
    frame, arrays = planted.interactions, as_arrays(planted.interactions)
    from_frame, from_arrays = train("ease", {}, interactions=frame), train("ease", {}, interactions=arrays)
    user = from_frame.scorer.user_ids[3]
    assert from_arrays.scorer.recommend(user, 10) == from_frame.scorer.recommend(user, 10)
    report_frame = evaluate("ease", {}, interactions=frame, max_test_users=100, sampled_beside=False)
    report_arrays = evaluate("ease", {}, interactions=arrays, max_test_users=100, sampled_beside=False)
    assert report_arrays.metrics == report_frame.metrics and report_arrays.n_test == report_frame.n_test
