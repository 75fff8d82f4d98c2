"""The SASRec Keras model (Kang & McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018).

Imported only by ``recipes/sasrec.py`` while training (it loads TensorFlow);
serving uses the numpy twin in :mod:`recommender.ml.sequence`, which reads the
weights exported by :func:`export_blocks` and must stay in step with
:class:`TransformerBlock` (pre-norm blocks, as in Klenitskiy & Vasilev 2023).

Sequences are item positions + 1, left-padded with 0 to ``max_history``, so
the latest event always sits at the last position.  Training predicts the
next item at every position, with either a full softmax over the catalogue
or a sampled softmax: ``negatives`` items drawn per step from the item
frequency q, every logit corrected by subtracting log q (Yi et al. 2019).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from .sequence import LAYER_NORM_EPSILON, TIME_GAP_BUCKETS

# Keras tensors: Keras ships no type information.
Tensor = Any

_MASKED = -1e9


@keras.saving.register_keras_serializable(package="recommender_ml")
class TransformerBlock(keras.layers.Layer):
    """Pre-norm causal multi-head self-attention plus a ReLU feed-forward layer, each residual."""

    def __init__(self, dim: int, heads: int, dropout: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dim, self.heads, self.dropout_rate = dim, heads, dropout
        self.norm1 = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON)
        self.norm2 = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON)
        self.query, self.key, self.value, self.output_projection = (keras.layers.Dense(dim) for _ in range(4))
        self.feed_forward_in = keras.layers.Dense(dim, activation="relu")
        self.feed_forward_out = keras.layers.Dense(dim)
        self.dropout = keras.layers.Dropout(dropout)

    def build(self, input_shape: tuple) -> None:
        for layer in (self.norm1, self.norm2, self.query, self.key, self.value, self.output_projection,
                      self.feed_forward_in, self.feed_forward_out):  # fmt: skip
            layer.build(input_shape)
        self.built = True

    def call(self, hidden: Tensor, valid: Tensor, training: bool = False) -> Tensor:
        ops = keras.ops
        length = ops.shape(hidden)[1]
        head_dim = self.dim // self.heads

        def split_heads(values: Tensor) -> Tensor:
            values = ops.reshape(values, (-1, length, self.heads, head_dim))
            return ops.transpose(values, (0, 2, 1, 3))

        normed = self.norm1(hidden)
        query, key, value = (split_heads(layer(normed)) for layer in (self.query, self.key, self.value))
        logits = ops.matmul(query, ops.transpose(key, (0, 1, 3, 2))) / float(np.sqrt(head_dim))
        causal = ops.cast(ops.tril(ops.ones((length, length))), "bool")
        # A query may read earlier real events; a padding query reads itself, so no row is all masked.
        allowed = ops.logical_and(
            causal[None, None], ops.logical_or(valid[:, None, None, :], ops.eye(length, dtype="bool")[None, None])
        )
        weights = ops.softmax(ops.where(allowed, logits, _MASKED), axis=-1)
        attended = ops.matmul(self.dropout(weights, training=training), value)
        attended = ops.reshape(ops.transpose(attended, (0, 2, 1, 3)), (-1, length, self.dim))
        hidden = hidden + self.dropout(self.output_projection(attended), training=training)
        normed = self.norm2(hidden)
        return hidden + self.dropout(self.feed_forward_out(self.feed_forward_in(normed)), training=training)

    def get_config(self) -> dict:
        return {**super().get_config(), "dim": self.dim, "heads": self.heads, "dropout": self.dropout_rate}


@keras.saving.register_keras_serializable(package="recommender_ml")
class SasrecModel(keras.Model):
    """Inputs ``{"sequence", "targets"}`` (B, max_history); outputs next-item logits at every position.

    With ``event_rows`` (the event-type vocabulary plus padding and unknown)
    an ``"events"`` input of the same shape adds an event-type embedding to
    each event's item vector; with ``time_gaps`` a ``"gaps"`` input adds the
    embedding of its time-gap bucket (:func:`recommender.ml.sequence.time_gap_buckets`).

    With ``negatives == 0`` the logits cover the whole catalogue (label: the
    target item); otherwise column 0 is the target and the rest sampled items.
    """

    def __init__(self, n_items: int, max_history: int, dim: int, blocks: int, heads: int, dropout: float,
                 negatives: int, seed: int = 0, text_buckets: int = 0, text_tokens: int = 0, id_dropout: float = 0.0,
                 event_rows: int = 0, time_gaps: bool = False, **kwargs: Any) -> None:  # fmt: skip
        super().__init__(**kwargs)
        self.n_items, self.max_history, self.dim = n_items, max_history, dim
        self.n_blocks, self.heads, self.dropout_rate = blocks, heads, dropout
        self.negatives, self.seed = negatives, seed
        self.item_embedding = keras.layers.Embedding(n_items + 1, dim, name="item_embedding")
        self.position_embedding = keras.layers.Embedding(max_history, dim, name="position_embedding")
        # Built now: item_table reads the weights directly, not through a call.
        self.item_embedding.build((None,))
        self.position_embedding.build((None,))
        self.event_rows, self.time_gaps = event_rows, time_gaps
        if event_rows:
            self.event_embedding = keras.layers.Embedding(event_rows, dim, name="event_embedding")
        if time_gaps:
            self.gap_embedding = keras.layers.Embedding(TIME_GAP_BUCKETS, dim, name="gap_embedding")
        self.blocks = [TransformerBlock(dim, heads, dropout, name=f"block_{number}") for number in range(blocks)]
        self.final_norm = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name="final_norm")
        self.embedding_dropout = keras.layers.Dropout(dropout)
        self.seed_generator = keras.random.SeedGenerator(seed)
        # log q(item), for sampling negatives and correcting their logits; set by the recipe.
        self.log_q = self.add_weight(shape=(n_items,), initializer="zeros", trainable=False, name="log_q")
        self.text_buckets, self.text_tokens, self.id_dropout = text_buckets, text_tokens, id_dropout
        # 1 where an item's id embedding counts; the recipe zeroes items never seen in training,
        # so they are placed by their text alone (and not by an untrained id vector).
        self.id_mask = self.add_weight(shape=(n_items + 1,), initializer="ones", trainable=False, name="id_mask")
        if text_buckets:
            self.text_embedding = keras.layers.Embedding(text_buckets + 1, dim, name="text_embedding")
            # Each item's hashed tokens (row 0: padding item), set by the recipe.
            self.item_text = self.add_weight(
                shape=(n_items + 1, text_tokens), initializer="zeros", trainable=False, dtype="int32", name="item_text"
            )

    def item_table(self, training: bool = False) -> Tensor:
        """Every item's vector (row 0: padding): its id embedding plus the mean of its text tokens' embeddings."""
        ops = keras.ops
        table = self.item_embedding.embeddings * self.id_mask[:, None]
        if training and self.id_dropout > 0:
            # Hide some items' ids each step, so the text alone must place them.
            kept = keras.random.uniform((self.n_items + 1,), seed=self.seed_generator) >= self.id_dropout
            table = table * ops.cast(kept, table.dtype)[:, None]
        if not self.text_buckets:
            return table
        present = ops.cast(ops.greater(self.item_text, 0), table.dtype)
        summed = ops.sum(self.text_embedding(self.item_text) * present[..., None], axis=1)
        return table + summed / ops.maximum(ops.sum(present, axis=1), 1.0)[:, None]

    def encode(
        self,
        sequence: Tensor,
        training: bool = False,
        table: Tensor | None = None,
        events: Tensor | None = None,
        gaps: Tensor | None = None,
    ) -> Tensor:
        """Hidden states (B, max_history, dim) after the final layer norm."""
        ops = keras.ops
        table = self.item_table(training) if table is None else table
        valid = ops.greater(sequence, 0)
        hidden = ops.take(table, sequence, axis=0) + self.position_embedding(ops.arange(self.max_history))[None]
        if self.event_rows:
            hidden = hidden + self.event_embedding(events)
        if self.time_gaps:
            hidden = hidden + self.gap_embedding(gaps)
        hidden = self.embedding_dropout(hidden, training=training)
        for block in self.blocks:
            hidden = block(hidden, valid, training=training)
        return self.final_norm(hidden)

    def call(self, inputs: dict[str, Tensor], training: bool = False) -> Tensor:
        ops = keras.ops
        table = self.item_table(training)
        hidden = self.encode(inputs["sequence"], training=training, table=table, events=inputs.get("events"),
                             gaps=inputs.get("gaps"))  # fmt: skip
        items = table[1:]
        if self.negatives == 0:
            return ops.matmul(hidden, ops.transpose(items))
        targets = ops.maximum(inputs["targets"] - 1, 0)
        positive = ops.sum(hidden * ops.take(items, targets, axis=0), axis=-1) - ops.take(self.log_q, targets)
        sampled = keras.random.categorical(self.log_q[None], self.negatives, seed=self.seed_generator)[0]
        negative = ops.matmul(hidden, ops.transpose(ops.take(items, sampled, axis=0))) - ops.take(self.log_q, sampled)
        # A sampled item that is the target is not a negative.
        hit = ops.equal(sampled[None, None, :], ops.cast(targets, sampled.dtype)[..., None])
        negative = ops.where(hit, _MASKED, negative)
        return ops.concatenate([positive[..., None], negative], axis=-1)

    def get_config(self) -> dict:
        return {**super().get_config(), "n_items": self.n_items, "max_history": self.max_history, "dim": self.dim,
                "blocks": self.n_blocks, "heads": self.heads, "dropout": self.dropout_rate,
                "negatives": self.negatives, "seed": self.seed, "text_buckets": self.text_buckets,
                "text_tokens": self.text_tokens, "id_dropout": self.id_dropout, "event_rows": self.event_rows,
                "time_gaps": self.time_gaps}  # fmt: skip


def export_blocks(model: SasrecModel) -> list[dict]:
    """Each block's weights under the names :mod:`recommender.ml.sequence` reads."""
    exported = []
    for block in model.blocks:
        arrays = {"ln1_gamma": block.norm1.gamma, "ln1_beta": block.norm1.beta,
                  "ln2_gamma": block.norm2.gamma, "ln2_beta": block.norm2.beta}  # fmt: skip
        for part, layer in (("q", block.query), ("k", block.key), ("v", block.value), ("o", block.output_projection),
                            ("1", block.feed_forward_in), ("2", block.feed_forward_out)):  # fmt: skip
            arrays[f"w{part}"], arrays[f"b{part}"] = layer.kernel, layer.bias
        exported.append({name: np.asarray(value) for name, value in arrays.items()})
    return exported
