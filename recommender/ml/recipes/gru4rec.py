"""GRU4Rec: a recurrent network over each user's latest events (Hidasi et al. 2016).

Trained like ``sasrec`` (the same windows of each user's sequence, next item
at every position, full softmax or sampled softmax with log-q correction) so
the bench compares the two architectures and not their losses. Served in
numpy (:class:`recommender.ml.sequence.RecurrentScorer`).
"""

from __future__ import annotations

import numpy as np

from ..params import Param
from ..progress import EpochReporter
from ..sequence import RecurrentScorer, ordered_histories
from .base import BASE_PROCESS_BYTES, RECOMMENDATION, TENSORFLOW_BYTES, Estimate, FitResult, Recipe
from .sasrec import FULL_SOFTMAX, FULL_SOFTMAX_MAX_ITEMS, SAMPLED_SOFTMAX, training_windows


class Gru4rec(Recipe):
    name = "gru4rec"
    task = RECOMMENDATION
    description = "Recurrent sequential model (GRU): predicts the next item from the order of the latest events."
    supports = frozenset({"recommend", "similar_items", "rank"})
    min_interactions = 20_000
    params = (
        Param("max_history", "int", 50, min=2, max=500, help="Latest events the model reads (N)."),
        Param("embedding_dim", "int", 64, min=4, max=512, help="Size of the item embeddings and the GRU state."),
        Param("dropout", "float", 0.2, min=0.0, max=0.9, help="Dropout on the item embeddings and the GRU outputs."),
        Param(
            "loss",
            "choice",
            "auto",
            choices=("auto", FULL_SOFTMAX, SAMPLED_SOFTMAX),
            help=f"auto: full softmax up to {FULL_SOFTMAX_MAX_ITEMS} items, sampled softmax above.",
        ),
        Param("negatives", "int", 1000, min=1000, max=100000, help="Items sampled per step (log-q corrected)."),
        Param("learning_rate", "float", 0.001, min=1e-6, max=1.0, help="Adam learning rate."),
        Param("epochs", "int", 30, min=1, max=500, help="Passes over the users' sequences."),
        Param("batch_size", "int", 128, min=4, max=8192, help="Sequences per gradient step."),
    )

    def estimate(self, shape, params):
        full = params["loss"] == FULL_SOFTMAX or (params["loss"] == "auto" and shape.items <= FULL_SOFTMAX_MAX_ITEMS)
        scored = shape.items if full else params["negatives"] + 1
        dim = params["embedding_dim"]
        # The recurrence runs step by step: slower per event than attention's few large products.
        per_event = 4e-5 * (dim / 64) ** 2 + scored * dim * 6 / 5e9
        logits = 3 * 4 * params["batch_size"] * params["max_history"] * scored
        memory = BASE_PROCESS_BYTES + TENSORFLOW_BYTES + logits + shape.interactions * 64 + shape.items * dim * 16
        return Estimate(memory_bytes=int(memory), seconds=30.0 + params["epochs"] * shape.interactions * per_event)

    def fit(self, data, params, *, seed, callbacks):
        from .. import keras_support
        from ..gru4rec_model import Gru4recModel, export_gru

        keras_support.configure(seed)
        max_history = params["max_history"]
        indptr, indices = ordered_histories(data.user_index, data.item_index, data.timestamps, data.n_users, None)
        windows = training_windows(indptr, indices, max_history)
        loss = params["loss"]
        if loss == "auto":
            loss = FULL_SOFTMAX if data.n_items <= FULL_SOFTMAX_MAX_ITEMS else SAMPLED_SOFTMAX
        negatives = params["negatives"] if loss == SAMPLED_SOFTMAX else 0
        model = Gru4recModel(data.n_items, params["embedding_dim"], params["dropout"], negatives, seed=seed)
        frequency = np.bincount(data.item_index, minlength=data.n_items) + 1.0
        model.log_q.assign(np.log(frequency / frequency.sum()).astype(np.float32))
        model.compile(optimizer=keras_support.make_optimizer("adam", params["learning_rate"]),
                      loss=keras_support.keras.losses.SparseCategoricalCrossentropy(from_logits=True))  # fmt: skip
        targets = windows["targets"]
        weights = (targets > 0).astype(np.float32)
        labels = np.zeros_like(targets) if negatives else np.maximum(targets - 1, 0)
        rng = np.random.default_rng(seed)
        reporter = EpochReporter(callbacks, params["epochs"])

        def epoch_data(epoch):
            order = rng.permutation(len(targets))
            batch = {name: values[order] for name, values in windows.items()}
            return keras_support.batched(batch, labels[order], params["batch_size"], weights[order])

        keras_support.fit_epochs(model, reporter, epoch_data)
        sequence_indptr, sequence_indices = ordered_histories(
            data.user_index, data.item_index, data.timestamps, data.n_users, max_history
        )
        scorer = RecurrentScorer(
            self.name, data.user_ids, data.item_ids, *data.user_history_csr(),
            sequence_indptr=sequence_indptr, sequence_indices=sequence_indices,
            item_vectors=keras_support.keras.ops.convert_to_numpy(model.item_embedding.embeddings)[1:],
            max_history=max_history, **export_gru(model),
        )  # fmt: skip
        history = [{**entry, "loss_kind": loss} for entry in reporter.history]
        return FitResult(scorer=scorer, history=history, keras_model=model)
