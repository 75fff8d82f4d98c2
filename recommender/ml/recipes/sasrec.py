"""SASRec: causal self-attention over each user's latest events (Kang & McAuley 2018).

Trained to predict the next item at every position of every user's
sequence with a full softmax over the catalogue, or, for large catalogues, a
sampled softmax with at least 1,000 negatives and log-q correction: the
setting under which SASRec beats recurrent and linear models (Klenitskiy &
Vasilev, RecSys 2023), where one negative with binary cross-entropy does not.
Histories longer than ``max_history`` are cut into windows, latest first.
With item text (title, description, categories) each item's vector adds an
embedding bag of its hashed words (:mod:`..text`), so an item no one has
touched yet is placed by its text. Optionally (``event_types``,
``time_gaps``) each event's type and the time since the one before (in log2
buckets) add their own embeddings to its item vector.
Served in numpy (:class:`recommender.ml.sequence.SequenceScorer`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InvalidParams
from ..params import Param
from ..placing import ItemPlacer
from ..progress import EpochReporter
from ..sequence import (
    UNKNOWN_CONTEXT,
    SequenceScorer,
    event_type_indices,
    gaps_per_sequence,
    ordered_histories,
    ordered_values,
    time_gap_buckets,
)
from .base import BASE_PROCESS_BYTES, RECOMMENDATION, TENSORFLOW_BYTES, Estimate, FitResult, Recipe

if TYPE_CHECKING:
    import pandas as pd
    import tensorflow as tf

    from ..data import InteractionData
    from ..progress import TrainingCallbacks
    from ..selection import DataShape

FULL_SOFTMAX = "full_softmax"
SAMPLED_SOFTMAX = "sampled_softmax"
# "auto" uses the full softmax up to this many items: its logits are batch x max_history x items floats.
FULL_SOFTMAX_MAX_ITEMS = 5000
# Windows kept per user, latest first: very long histories would otherwise dominate an epoch.
MAX_WINDOWS_PER_USER = 20
# Event types with their own embedding (the most frequent); rarer ones share the "unknown" row.
MAX_EVENT_TYPES = 100


class Sasrec(Recipe):
    name = "sasrec"
    places_catalogue_items = True  # items known only from the catalogue join: their text places them
    task = RECOMMENDATION
    description = "Self-attentive sequential model: predicts the next item from the order of the latest events."
    supports = frozenset({"recommend", "similar_items", "rank"})
    # Like the other neural recipes, it sits out the automatic choice on small data.
    min_interactions = 20_000
    params = (
        Param("max_history", "int", 50, min=2, max=500, help="Latest events the model reads (N)."),
        Param("embedding_dim", "int", 64, min=4, max=512, help="Size of the item and position embeddings."),
        Param("blocks", "int", 2, min=1, max=8, help="Self-attention blocks."),
        Param("heads", "int", 2, min=1, max=16, help="Attention heads per block; must divide embedding_dim."),
        Param("dropout", "float", 0.2, min=0.0, max=0.9, help="Dropout on embeddings, attention and block outputs."),
        Param(
            "loss",
            "choice",
            "auto",
            choices=("auto", FULL_SOFTMAX, SAMPLED_SOFTMAX),
            help=f"auto: full softmax up to {FULL_SOFTMAX_MAX_ITEMS} items, sampled softmax above.",
        ),
        Param(
            "negatives",
            "int",
            1000,
            min=1000,
            max=100000,
            help="Items sampled per step for the sampled softmax (log-q corrected).",
        ),
        Param("learning_rate", "float", 0.001, min=1e-6, max=1.0, help="Adam learning rate."),
        Param("epochs", "int", 30, min=1, max=500, help="Passes over the users' sequences."),
        Param("batch_size", "int", 128, min=4, max=8192, help="Sequences per gradient step."),
        Param(
            "text_buckets",
            "int",
            4096,
            min=0,
            max=1 << 20,
            help="Hash buckets for the words of item titles, descriptions and categories; 0 ignores item text.",
        ),
        Param(
            "id_dropout",
            "float",
            0.1,
            min=0.0,
            max=1.0,
            help="Share of items whose id is hidden each step (with item text), so text alone places new items.",
        ),
        Param(
            "event_types",
            "bool",
            False,
            help="Read each event's type (view, purchase...): an embedding per type is added to its item's.",
        ),
        Param(
            "time_gaps",
            "bool",
            False,
            help="Read the time since the previous event, in log2 buckets of seconds, as an added embedding.",
        ),
    )

    def validate(self, params: dict | None, *, allow_search_space: bool = False) -> dict:
        validated = super().validate(params, allow_search_space=allow_search_space)
        dim, heads = validated["embedding_dim"], validated["heads"]
        if isinstance(dim, int) and isinstance(heads, int) and dim % heads:
            raise InvalidParams({"heads": f"must divide embedding_dim ({dim}); {heads} does not"})
        return validated

    def estimate(self, shape: DataShape, params: dict) -> Estimate:
        """Every event is a position of some window; each costs its attention blocks and its softmax.

        Measured on the 2-core development machine (docs/benchmarks.md, issue 17): about 4 s an
        epoch for 55,000 events over 1,000 items (full softmax, 64 dimensions).
        """
        full = params["loss"] == FULL_SOFTMAX or (params["loss"] == "auto" and shape.items <= FULL_SOFTMAX_MAX_ITEMS)
        scored = shape.items if full else params["negatives"] + 1
        dim = params["embedding_dim"]
        per_event = 2e-5 * params["blocks"] * (dim / 64) ** 2 + scored * dim * 6 / 5e9
        seconds = 30.0 + params["epochs"] * shape.interactions * per_event
        # The logits of one batch and their gradients, beside the embeddings and the windows.
        logits = 3 * 4 * params["batch_size"] * params["max_history"] * scored
        memory = BASE_PROCESS_BYTES + TENSORFLOW_BYTES + logits + shape.interactions * 64 + shape.items * dim * 16
        return Estimate(memory_bytes=int(memory), seconds=seconds)

    def fit(self, data: InteractionData, params: dict, *, seed: int, callbacks: TrainingCallbacks | None) -> FitResult:
        from .. import keras_support
        from ..sasrec_model import SasrecModel, export_blocks

        keras_support.configure(seed)
        max_history = params["max_history"]
        indptr, indices = ordered_histories(data.user_index, data.item_index, data.timestamps, data.n_users, None)
        vocabulary = _event_vocabulary(data) if params["event_types"] else None
        events = None
        if vocabulary is not None:
            events = event_type_indices(data.event_types, vocabulary)
            _, ordered_events = ordered_values(data.user_index, events, data.timestamps, data.n_users, None)
        times = None
        if params["time_gaps"] and data.timestamps is not None:
            _, times = ordered_values(data.user_index, data.timestamps, data.timestamps, data.n_users, None)
        windows = training_windows(
            indptr, indices, max_history, events=None if events is None else ordered_events, times=times
        )
        inputs, targets = windows["sequence"], windows["targets"]
        loss = params["loss"]
        if loss == "auto":
            loss = FULL_SOFTMAX if data.n_items <= FULL_SOFTMAX_MAX_ITEMS else SAMPLED_SOFTMAX
        negatives = params["negatives"] if loss == SAMPLED_SOFTMAX else 0
        text = _item_text(data.items, params["text_buckets"])
        model = SasrecModel(
            data.n_items,
            max_history,
            params["embedding_dim"],
            params["blocks"],
            params["heads"],
            params["dropout"],
            negatives,
            seed=seed,
            text_buckets=params["text_buckets"] if text is not None else 0,
            text_tokens=TEXT_TOKENS,
            id_dropout=params["id_dropout"] if text is not None else 0.0,
            event_rows=0 if vocabulary is None else len(vocabulary) + UNKNOWN_CONTEXT + 1,
            time_gaps=times is not None,
        )
        counts = np.bincount(data.item_index, minlength=data.n_items)
        frequency = counts + 1.0
        model.log_q.assign(np.log(frequency / frequency.sum()).astype(np.float32))
        model.id_mask.assign(np.concatenate([[1.0], counts > 0]).astype(np.float32))
        if text is not None:
            model.item_text.assign(np.concatenate([np.zeros((1, TEXT_TOKENS), np.int32), text]))
        model.compile(optimizer=keras_support.make_optimizer("adam", params["learning_rate"]),
                      loss=keras_support.keras.losses.SparseCategoricalCrossentropy(from_logits=True))  # fmt: skip
        rng = np.random.default_rng(seed)
        weights = (targets > 0).astype(np.float32)
        # Sampled softmax puts the target in column 0; full softmax labels are item positions.
        labels = np.zeros_like(targets) if negatives else np.maximum(targets - 1, 0)
        reporter = EpochReporter(callbacks, params["epochs"])

        def epoch_data(epoch: int) -> tf.data.Dataset:
            order = rng.permutation(len(inputs))
            batch = {name: values[order] for name, values in windows.items()}
            return keras_support.batched(batch, labels[order], params["batch_size"], weights[order])

        keras_support.fit_epochs(model, reporter, epoch_data)
        to_numpy = keras_support.to_numpy
        sequence_indptr, sequence_indices = ordered_histories(
            data.user_index, data.item_index, data.timestamps, data.n_users, max_history
        )
        context: dict[str, Any] = {}
        if vocabulary is not None:
            context.update(
                event_vectors=to_numpy(model.event_embedding.embeddings), event_vocabulary=list(vocabulary),
                default_event=_most_common(events),
                sequence_events=ordered_values(data.user_index, events, data.timestamps, data.n_users, max_history)[1],
            )  # fmt: skip
        if times is not None:
            _, kept_times = ordered_values(data.user_index, data.timestamps, data.timestamps, data.n_users, max_history)
            context.update(gap_vectors=to_numpy(model.gap_embedding.embeddings),
                           sequence_gaps=gaps_per_sequence(sequence_indptr, kept_times))  # fmt: skip
        scorer = SequenceScorer(
            self.name, data.user_ids, data.item_ids, *data.user_history_csr(),
            sequence_indptr=sequence_indptr, sequence_indices=sequence_indices,
            item_vectors=to_numpy(model.item_table(training=False))[1:],
            position_vectors=to_numpy(model.position_embedding.embeddings), blocks=export_blocks(model),
            final_gamma=to_numpy(model.final_norm.gamma), final_beta=to_numpy(model.final_norm.beta),
            heads=params["heads"], **context,
        )  # fmt: skip
        if text is not None:
            # Items added to the catalogue after training are placed by their words, as unseen ones were here.
            scorer.placer = ItemPlacer(buckets=params["text_buckets"], max_tokens=TEXT_TOKENS,
                                       token_vectors=to_numpy(model.text_embedding.embeddings))  # fmt: skip
        history = [{**entry, "loss_kind": loss} for entry in reporter.history]
        return FitResult(scorer=scorer, history=history, keras_model=model)


# Distinct words of an item's text that its bag reads.
TEXT_TOKENS = 32


def _item_text(frame: pd.DataFrame | None, buckets: int) -> np.ndarray | None:
    from ..text import hashed_tokens, item_texts

    texts = item_texts(frame) if buckets else None
    return None if texts is None else hashed_tokens(texts, buckets, TEXT_TOKENS)


def _event_vocabulary(data: InteractionData) -> dict[str, int] | None:
    """The most frequent event types' embedding rows (2...), or None without event types."""
    if data.event_types is None:
        return None
    kinds, counts = np.unique(data.event_types[data.event_types != ""], return_counts=True)
    if len(kinds) == 0:
        return None
    ranked = kinds[np.argsort(-counts, kind="stable")][:MAX_EVENT_TYPES]
    return {str(kind): UNKNOWN_CONTEXT + 1 + n for n, kind in enumerate(ranked)}


def _most_common(values: np.ndarray | None) -> int:
    if values is None:
        return UNKNOWN_CONTEXT
    return int(np.bincount(values).argmax())


def training_windows(
    indptr: np.ndarray,
    indices: np.ndarray,
    max_history: int,
    *,
    events: np.ndarray | None = None,
    times: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Windows of each user's sequence, latest first: ``sequence`` and next-item ``targets``, both
    (windows, max_history) item positions + 1 left-padded with 0, and with ``events`` (event-type rows)
    or ``times`` (unix seconds) aligned ``events`` and ``gaps`` rows (0 pads; a window's first gap is unknown).
    """
    windows: dict[str, list] = {"sequence": [], "targets": []}
    if events is not None:
        windows["events"] = []
    if times is not None:
        windows["gaps"] = []

    def padded(values: Any, length: int) -> np.ndarray:
        return np.concatenate([np.zeros(length - len(values), np.int32), np.asarray(values, np.int32)])

    for user in range(len(indptr) - 1):
        start = int(indptr[user])
        sequence = indices[start : indptr[user + 1]].astype(np.int32) + 1
        end = len(sequence)
        for _ in range(MAX_WINDOWS_PER_USER):
            if end < 2:
                break
            first = max(0, end - max_history - 1)
            window = padded(sequence[first:end], max_history + 1)
            windows["sequence"].append(window[:-1])
            windows["targets"].append(window[1:])
            if events is not None:
                windows["events"].append(padded(events[start + first : start + end - 1], max_history))
            if times is not None:
                windows["gaps"].append(padded(time_gap_buckets(times[start + first : start + end - 1]), max_history))
            end -= max_history
    return {name: np.stack(rows) if rows else np.zeros((0, max_history), np.int32) for name, rows in windows.items()}
