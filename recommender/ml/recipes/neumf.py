"""NeuMF (He et al., "Neural Collaborative Filtering", WWW 2017).

GMF (element-wise product of user and item embeddings) and an MLP over the
concatenated embeddings, fused by one output unit; trained on implicit
feedback with ``negatives`` sampled unseen items per positive, resampled
every epoch.  Defaults follow the paper's released code (8 predictive
factors, MLP 64->32->16->8 where 64 is the concatenated embedding, Adam
1e-3, batch 256, 4 negatives) without its pre-training step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..params import Param
from ..progress import EpochReporter
from ..scorers import NeuMFScorer
from .base import RECOMMENDATION, FitResult, Recipe

if TYPE_CHECKING:
    # Keras is imported only when a model trains
    import keras
    import tensorflow as tf

    from ..data import InteractionData
    from ..progress import TrainingCallbacks

# Rounds of re-drawing negatives that hit a positive before accepting them;
# only users who interacted with nearly the whole catalogue get that far.
_MAX_RESAMPLE_ROUNDS = 20


class NeuMF(Recipe):
    name = "neumf"
    task = RECOMMENDATION
    description = "Neural collaborative filtering: GMF and MLP towers fused, trained with negative sampling."
    supports = frozenset({"recommend", "similar_items", "rank"})
    # On 60,000 generated interactions EASE still beat it by a wide margin (docs/benchmarks.md).
    min_interactions = 20_000
    params = (
        Param("gmf_dim", "int", 8, min=1, max=512, help="Size of the GMF user and item embeddings."),
        Param(
            "mlp_dim",
            "int",
            32,
            min=1,
            max=512,
            help="Size of the MLP user and item embeddings (the first MLP layer sees twice this).",
        ),
        Param("mlp_layers", "int_list", (32, 16, 8), min=1, max=2048, help="Hidden layer sizes of the MLP tower."),
        Param("dropout", "float", 0.0, min=0.0, max=0.9, help="Dropout after each MLP hidden layer."),
        Param("learning_rate", "float", 0.001, min=1e-6, max=1.0, help="Adam learning rate."),
        Param("epochs", "int", 20, min=1, max=500, help="Passes over the positives (negatives are redrawn each pass)."),
        Param("batch_size", "int", 256, min=8, max=65536, help="Examples per gradient step."),
        Param("negatives", "int", 4, min=1, max=100, help="Sampled unseen items per positive interaction."),
        Param(
            "l2",
            "float",
            0.0,
            min=0.0,
            max=1.0,
            help="L2 penalty on the embeddings used in each batch and on dense kernels.",
        ),
    )

    def fit(self, data: InteractionData, params: dict, *, seed: int, callbacks: TrainingCallbacks | None) -> FitResult:
        from .. import keras_support

        keras_support.configure(seed)
        model = build_model(data.n_users, data.n_items, params)
        users, items = data.unique_pairs()
        sampler = NegativeSampler(users, items, data.n_items, params["negatives"], seed)
        reporter = EpochReporter(callbacks, params["epochs"])

        def epoch_data(epoch: int) -> tf.data.Dataset:
            epoch_users, epoch_items, labels = sampler.epoch()
            return keras_support.batched((epoch_users, epoch_items), labels, params["batch_size"])

        keras_support.fit_epochs(model, reporter, epoch_data)
        scorer = export_scorer(self.name, model, data)
        return FitResult(scorer=scorer, history=reporter.history, keras_model=model)


class NegativeSampler:
    """Seeded per-epoch training examples: all positives plus sampled unseen items."""

    def __init__(self, users: np.ndarray, items: np.ndarray, n_items: int, negatives: int, seed: int):
        self.users, self.items = users.astype(np.int32), items.astype(np.int32)
        self.n_items, self.negatives = n_items, negatives
        self.positive_keys = np.sort(users.astype(np.int64) * n_items + items)
        self.rng = np.random.default_rng(seed)

    def epoch(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        negative_users = np.repeat(self.users, self.negatives)
        negative_items = self.rng.integers(0, self.n_items, len(negative_users), dtype=np.int32)
        for _ in range(_MAX_RESAMPLE_ROUNDS):
            clashes = np.flatnonzero(self._is_positive(negative_users, negative_items))
            if len(clashes) == 0:
                break
            negative_items[clashes] = self.rng.integers(0, self.n_items, len(clashes), dtype=np.int32)
        users = np.concatenate([self.users, negative_users])
        items = np.concatenate([self.items, negative_items])
        labels = np.concatenate([np.ones(len(self.users), np.float32), np.zeros(len(negative_users), np.float32)])
        order = self.rng.permutation(len(users))
        return users[order], items[order], labels[order]

    def _is_positive(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        keys = users.astype(np.int64) * self.n_items + items
        found = np.searchsorted(self.positive_keys, keys)
        found = np.minimum(found, len(self.positive_keys) - 1)
        return self.positive_keys[found] == keys


def build_model(n_users: int, n_items: int, params: dict) -> keras.Model:
    """The compiled Keras NeuMF model: inputs (user index, item index) -> logit of shape (batch, 1)."""
    import keras

    from ..keras_support import make_optimizer

    def penalty() -> keras.regularizers.Regularizer | None:
        return keras.regularizers.L2(params["l2"]) if params["l2"] > 0 else None

    def embedding(count: int, dim: int, name: str) -> keras.layers.Embedding:
        # activity_regularizer penalises only the rows looked up in a batch,
        # which keeps the gradient sparse (a kernel penalty would touch every row).
        return keras.layers.Embedding(
            count,
            dim,
            name=name,
            activity_regularizer=penalty(),
            embeddings_initializer=keras.initializers.RandomNormal(stddev=0.01),
        )

    user = keras.Input(shape=(), dtype="int32", name="user")
    item = keras.Input(shape=(), dtype="int32", name="item")
    gmf = keras.layers.Multiply(name="gmf")(
        [
            embedding(n_users, params["gmf_dim"], "gmf_user")(user),
            embedding(n_items, params["gmf_dim"], "gmf_item")(item),
        ]
    )
    hidden = keras.layers.Concatenate(name="mlp_input")(
        [
            embedding(n_users, params["mlp_dim"], "mlp_user")(user),
            embedding(n_items, params["mlp_dim"], "mlp_item")(item),
        ]
    )
    for layer, units in enumerate(params["mlp_layers"]):
        hidden = keras.layers.Dense(units, activation="relu", kernel_regularizer=penalty(), name=f"mlp_dense_{layer}")(
            hidden
        )
        if params["dropout"] > 0:
            hidden = keras.layers.Dropout(params["dropout"], name=f"mlp_dropout_{layer}")(hidden)
    fused = keras.layers.Concatenate(name="fused")([gmf, hidden])
    logit = keras.layers.Dense(1, name="prediction")(fused)
    model = keras.Model([user, item], logit, name="neumf")
    model.compile(
        optimizer=make_optimizer("adam", params["learning_rate"]),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
    )
    return model


def export_scorer(recipe_name: str, model: keras.Model, data: InteractionData) -> NeuMFScorer:
    """Copy the trained weights into a numpy scorer that reproduces the model's logits."""

    def weights(name: str) -> list[np.ndarray]:
        return [np.asarray(w) for w in model.get_layer(name).get_weights()]

    n_layers = sum(1 for layer in model.layers if layer.name.startswith("mlp_dense_"))
    dense = [weights(f"mlp_dense_{layer}") for layer in range(n_layers)]
    output_kernel, output_bias = weights("prediction")
    return NeuMFScorer(
        recipe_name,
        data.user_ids,
        data.item_ids,
        *data.user_history_csr(),
        gmf_user=weights("gmf_user")[0],
        gmf_item=weights("gmf_item")[0],
        mlp_user=weights("mlp_user")[0],
        mlp_item=weights("mlp_item")[0],
        kernels=[kernel for kernel, _ in dense],
        biases=[bias for _, bias in dense],
        output_kernel=output_kernel,
        output_bias=output_bias,
    )
