"""The numpy scorers reproduce the compiled Keras models (max abs diff < 1e-4)."""

import keras
import numpy as np

from recommender.ml.data import encode_frame

TOLERANCE = 1e-4


def keras_output(model, inputs):
    return keras.ops.convert_to_numpy(model(inputs, training=False))


def test_neumf_numpy_matches_keras(trained_neumf):
    scorer = trained_neumf.scorer
    for user_position in (0, 7, len(scorer.user_ids) - 1):
        items = np.arange(scorer.n_items, dtype=np.int32)
        users = np.full(scorer.n_items, user_position, dtype=np.int32)
        expected = keras_output(trained_neumf.keras_model, [users, items])[:, 0]
        actual = scorer.score(scorer.user_ids[user_position], scorer.item_ids)
        assert np.max(np.abs(np.asarray(actual) - expected)) < TOLERANCE


def test_two_tower_numpy_matches_keras(trained_two_tower):
    scorer, model = trained_two_tower.scorer, trained_two_tower.keras_model
    items = np.arange(scorer.n_items, dtype=np.int32)
    trained_items = np.isin(items, scorer.history_indices)
    item_vectors = keras_output(model.get_layer("item_tower"), [items, np.where(trained_items, items + 1, 0)])
    user_vectors = keras_output(model.get_layer("user_tower"), np.arange(len(scorer.user_ids), dtype=np.int32))
    for user_position in (0, 5):
        expected = item_vectors @ user_vectors[user_position]
        actual = scorer.score(scorer.user_ids[user_position], scorer.item_ids)
        assert np.max(np.abs(np.asarray(actual) - expected)) < TOLERANCE


def test_classifier_numpy_matches_keras(trained_classifier, churn_table):
    scorer = trained_classifier.scorer
    rows = churn_table.drop(columns=["churned"]).head(200)
    expected = keras.ops.convert_to_numpy(
        keras.ops.softmax(trained_classifier.keras_model(encode_frame(scorer.encoder, rows), training=False))
    )
    predictions = scorer.predict(rows.to_dict("records"))
    actual = np.array([[p["probabilities"][str(label)] for label in scorer.classes] for p in predictions])
    assert np.max(np.abs(actual - expected)) < TOLERANCE


def test_regressor_numpy_matches_keras(trained_regressor, regression_table):
    scorer = trained_regressor.scorer
    rows = regression_table.drop(columns=["target"]).head(200)
    standardised = keras_output(trained_regressor.keras_model, encode_frame(scorer.encoder, rows))[:, 0]
    expected = standardised * scorer.target_std + scorer.target_mean
    actual = np.array([p["value"] for p in scorer.predict(rows.to_dict("records"))])
    assert np.max(np.abs(actual - expected)) < TOLERANCE
