"""Two-tower retrieval model trained with an in-batch softmax.

The user tower sees a user id embedding plus encoded user features; the item
tower sees an item id embedding plus encoded item features (categories,
including ``a|b|c`` multi-valued ones, as averaged embeddings; numbers
standardised).  Outputs are L2-normalised and compared by dot product over a
temperature, with an optional log-q correction for the popularity bias of
in-batch negatives.  Item ids are randomly hidden during training
(``id_dropout``) so the tower also learns to place items from features alone:
items that never had an interaction are scored from their features.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..params import Param
from ..placing import ItemPlacer
from ..progress import EpochReporter
from ..scorers import EmbeddingScorer
from .base import RECOMMENDATION, FitResult, Recipe

if TYPE_CHECKING:
    import keras
    import pandas as pd
    import tensorflow as tf

    from ..data import InteractionData
    from ..progress import TrainingCallbacks

# Id-embedding row shared by every item whose id is hidden or never trained.
UNKNOWN_ITEM_ID = 0


class TwoTower(Recipe):
    name = "two_tower"
    places_catalogue_items = True  # items known only from the catalogue join: their text places them
    task = RECOMMENDATION
    description = "User and item towers (ids plus features) trained with in-batch softmax; scores new items."
    supports = frozenset({"recommend", "similar_items", "rank", "explain"})
    # On 60,000 generated interactions EASE still beat it by a wide margin (docs/benchmarks.md).
    min_interactions = 20_000
    params = (
        Param("embedding_dim", "int", 64, min=2, max=1024, help="Size of the id and feature embeddings."),
        Param("tower_layers", "int_list", (128,), min=1, max=4096, help="Hidden layer sizes of each tower."),
        Param("output_dim", "int", 64, min=2, max=1024, help="Size of the normalised tower outputs."),
        Param("temperature", "float", 0.05, min=0.001, max=10.0, help="Softmax temperature for cosine logits."),
        Param("logq_correction", "bool", True, help="Subtract log item frequency from in-batch logits."),
        Param(
            "id_dropout",
            "float",
            0.1,
            min=0.0,
            max=1.0,
            help="Share of training examples whose item id is hidden (only with item features).",
        ),
        Param("dropout", "float", 0.0, min=0.0, max=0.9, help="Dropout after each hidden layer."),
        Param("learning_rate", "float", 0.001, min=1e-6, max=1.0, help="Adam learning rate."),
        Param("epochs", "int", 20, min=1, max=500, help="Passes over the distinct user-item pairs."),
        Param(
            "batch_size",
            "int",
            512,
            min=8,
            max=65536,
            help="Pairs per step; each pair's negatives are the batch's other items.",
        ),
        Param(
            "text_buckets",
            "int",
            4096,
            min=0,
            max=1 << 20,
            help="Hash buckets for the words of item titles, descriptions and categories; 0 ignores item text.",
        ),
    )

    def fit(self, data: InteractionData, params: dict, *, seed: int, callbacks: TrainingCallbacks | None) -> FitResult:
        from .. import keras_support

        keras_support.configure(seed)
        _, user_features = _encoded_features(data.users)
        item_encoder, item_features = _encoded_features(data.items)
        item_text = _item_text(data.items, params["text_buckets"])
        user_tower, item_tower, model = build_model(
            data.n_users, data.n_items, user_features, item_features, params, item_text=item_text
        )
        users, items = data.unique_pairs()
        item_frequency = np.bincount(items, minlength=data.n_items) / len(items)
        log_q = np.log(np.maximum(item_frequency, 1e-12)).astype(np.float32)
        id_dropout = params["id_dropout"] if item_features is not None or item_text is not None else 0.0
        rng = np.random.default_rng(seed)
        reporter = EpochReporter(callbacks, params["epochs"])

        def epoch_data(epoch: int) -> tf.data.Dataset:
            order = rng.permutation(len(users))
            epoch_items = items[order]
            item_ids = np.where(rng.random(len(order)) < id_dropout, UNKNOWN_ITEM_ID, epoch_items + 1)
            inputs = {
                "user": users[order],
                "item": epoch_items,
                "item_id": item_ids.astype(np.int32),
                "item_log_q": log_q[epoch_items] if params["logq_correction"] else np.zeros(len(order), np.float32),
            }
            return keras_support.in_batch_dataset(inputs, params["batch_size"])

        keras_support.fit_epochs(model, reporter, epoch_data)
        trained_items = np.bincount(items, minlength=data.n_items) > 0
        item_ids = np.where(trained_items, np.arange(data.n_items) + 1, UNKNOWN_ITEM_ID).astype(np.int32)
        all_items = np.arange(data.n_items, dtype=np.int32)
        history_indptr, history_indices = data.user_history_csr()
        scorer = EmbeddingScorer(
            self.name,
            data.user_ids,
            data.item_ids,
            history_indptr,
            history_indices,
            user_vectors=keras_support.predict_in_batches(user_tower, [np.arange(data.n_users, dtype=np.int32)]),
            item_vectors=keras_support.predict_in_batches(item_tower, [all_items, item_ids]),
        )
        if item_text is not None:
            scorer.placer = item_placer(item_tower, params, item_encoder if item_features is not None else None)
        return FitResult(scorer=scorer, history=reporter.history, keras_model=model)


def item_placer(item_tower: Any, params: dict, encoder: Any) -> ItemPlacer:
    """The item tower in numpy for an item whose id it never trained: items added after training."""
    from ..keras_support import to_numpy

    def weights(name: str) -> list[np.ndarray]:
        return [to_numpy(value) for value in item_tower.get_layer(name).weights]

    layers = [weights(f"item_dense_{n}") for n in range(len(params["tower_layers"]))] + [weights("item_output")]
    return ItemPlacer(
        buckets=params["text_buckets"], max_tokens=TEXT_TOKENS, token_vectors=weights("item_text_embedding")[0],
        id_vector=weights("item_id_embedding")[0][UNKNOWN_ITEM_ID], encoder=encoder,
        feature_kernel=weights("item_feature_embedding")[0] if encoder is not None else None,
        kernels=[kernel for kernel, _ in layers], biases=[bias for _, bias in layers], normalise=True,
    )  # fmt: skip


def _encoded_features(frame: pd.DataFrame | None) -> tuple[Any, np.ndarray | None]:
    """``(encoder, encoded matrix)``; ``(None, None)`` without usable features."""
    if frame is None or frame.shape[1] == 0:
        return None, None
    from ..data import encode_frame, fit_feature_encoder

    encoder = fit_feature_encoder(frame)
    return (encoder, encode_frame(encoder, frame)) if encoder.width else (None, None)


def _item_text(frame: pd.DataFrame | None, buckets: int) -> np.ndarray | None:
    from ..text import hashed_tokens, item_texts

    texts = item_texts(frame) if buckets else None
    return None if texts is None else hashed_tokens(texts, buckets, TEXT_TOKENS)


# Distinct words of an item's text that its bag reads.
TEXT_TOKENS = 32


def build_model(
    n_users: int,
    n_items: int,
    user_features: np.ndarray | None,
    item_features: np.ndarray | None,
    params: dict,
    item_text: np.ndarray | None = None,
) -> tuple[keras.Model, keras.Model, keras.Model]:
    """Return (user_tower, item_tower, compiled training model)."""
    import keras

    from ..keras_support import InBatchLogits, frozen_table, make_optimizer

    def tower(parts: list[Any], name: str) -> Any:  # Keras tensors (untyped)
        hidden = keras.layers.Concatenate(name=f"{name}_inputs")(parts) if len(parts) > 1 else parts[0]
        for layer, units in enumerate(params["tower_layers"]):
            hidden = keras.layers.Dense(units, activation="relu", name=f"{name}_dense_{layer}")(hidden)
            if params["dropout"] > 0:
                hidden = keras.layers.Dropout(params["dropout"], name=f"{name}_dropout_{layer}")(hidden)
        output = keras.layers.Dense(params["output_dim"], name=f"{name}_output")(hidden)
        return keras.layers.UnitNormalization(name=f"{name}_normalised")(output)

    def feature_part(index_input: Any, features: np.ndarray, name: str) -> Any:
        looked_up = frozen_table(features, f"{name}_feature_table")(index_input)
        return keras.layers.Dense(params["embedding_dim"], use_bias=False, name=f"{name}_feature_embedding")(looked_up)

    user = keras.Input(shape=(), dtype="int32", name="user")
    user_parts = [keras.layers.Embedding(n_users, params["embedding_dim"], name="user_id_embedding")(user)]
    if user_features is not None:
        user_parts.append(feature_part(user, user_features, "user"))
    user_tower = keras.Model(user, tower(user_parts, "user"), name="user_tower")

    item = keras.Input(shape=(), dtype="int32", name="item")
    item_id = keras.Input(shape=(), dtype="int32", name="item_id")
    item_parts = [keras.layers.Embedding(n_items + 1, params["embedding_dim"], name="item_id_embedding")(item_id)]
    if item_features is not None:
        item_parts.append(feature_part(item, item_features, "item"))
    if item_text is not None:
        # Token ids ride in a frozen float table (exact below 2**24), so the tower keeps its (item, item_id) inputs.
        tokens = keras.ops.cast(frozen_table(item_text.astype(np.float32), "item_text_table")(item), "int32")
        bag = keras.layers.Embedding(params["text_buckets"] + 1, params["embedding_dim"], mask_zero=True,
                                     name="item_text_embedding")(tokens)  # fmt: skip
        item_parts.append(keras.layers.GlobalAveragePooling1D(name="item_text_bag")(bag))
    item_tower = keras.Model([item, item_id], tower(item_parts, "item"), name="item_tower")

    inputs = {
        "user": keras.Input(shape=(), dtype="int32", name="user"),
        "item": keras.Input(shape=(), dtype="int32", name="item"),
        "item_id": keras.Input(shape=(), dtype="int32", name="item_id"),
        "item_log_q": keras.Input(shape=(), dtype="float32", name="item_log_q"),
    }
    logits = InBatchLogits(params["temperature"], name="in_batch_logits")(
        user_tower(inputs["user"]), item_tower([inputs["item"], inputs["item_id"]]), inputs["item_log_q"]
    )
    model = keras.Model(inputs, logits, name="two_tower")
    model.compile(
        optimizer=make_optimizer("adam", params["learning_rate"]),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return user_tower, item_tower, model
