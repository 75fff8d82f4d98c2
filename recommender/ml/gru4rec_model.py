"""The GRU4Rec Keras model (Hidasi et al., "Session-based recommendations with recurrent neural networks", 2016).

Imported only by ``recipes/gru4rec.py`` while training; serving uses
:class:`recommender.ml.sequence.RecurrentScorer`. Sequences are left-padded
like SASRec's; the padding is masked, so the state starts at zero on each
sequence's first real event. Trained with SASRec's losses (full or sampled
softmax with log-q correction, ``sasrec_model.next_item_logits``), which is
what makes recurrent models competitive (Hidasi & Czapp 2023); the item
embeddings are tied between input and output.
"""

from __future__ import annotations

import keras

from .sasrec_model import next_item_logits


@keras.saving.register_keras_serializable(package="recommender_ml")
class Gru4recModel(keras.Model):
    """Inputs ``{"sequence", "targets"}`` (B, max_history); outputs next-item logits at every position."""

    def __init__(self, n_items: int, dim: int, dropout: float, negatives: int, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.n_items, self.dim, self.dropout_rate, self.negatives, self.seed = n_items, dim, dropout, negatives, seed
        self.item_embedding = keras.layers.Embedding(n_items + 1, dim, name="item_embedding")
        self.item_embedding.build((None,))
        self.gru = keras.layers.GRU(dim, return_sequences=True, name="gru")
        self.embedding_dropout = keras.layers.Dropout(dropout)
        self.output_dropout = keras.layers.Dropout(dropout)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.log_q = self.add_weight(shape=(n_items,), initializer="zeros", trainable=False, name="log_q")

    def encode(self, sequence, training=False):
        """Hidden states (B, max_history, dim); padded steps keep the zero state."""
        ops = keras.ops
        hidden = self.embedding_dropout(ops.take(self.item_embedding.embeddings, sequence, axis=0), training=training)
        return self.gru(hidden, mask=ops.greater(sequence, 0), training=training)

    def call(self, inputs, training=False):
        hidden = self.output_dropout(self.encode(inputs["sequence"], training=training), training=training)
        return next_item_logits(self, hidden, self.item_embedding.embeddings[1:], inputs["targets"])

    def get_config(self):
        return {**super().get_config(), "n_items": self.n_items, "dim": self.dim, "dropout": self.dropout_rate,
                "negatives": self.negatives, "seed": self.seed}  # fmt: skip


def export_gru(model: Gru4recModel) -> dict:
    """The GRU's weights under the names :class:`recommender.ml.sequence.RecurrentScorer` reads."""
    cell = model.gru.cell
    to_numpy = keras.ops.convert_to_numpy
    return {"kernel": to_numpy(cell.kernel), "recurrent_kernel": to_numpy(cell.recurrent_kernel),
            "bias": to_numpy(cell.bias)}  # fmt: skip
