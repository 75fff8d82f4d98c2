"""TensorFlow/Keras plumbing shared by the neural recipes.

Only recipe ``fit`` functions import this module, so that importing the
library, listing recipes or serving a model never loads TensorFlow.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from .progress import EpochReporter  # noqa: E402

# Keras and TensorFlow tensors: neither library ships type information.
Tensor = Any

_threads_configured = False


def configure(seed: int) -> None:
    """Seed every random source Keras uses and size TensorFlow's thread pools once."""
    global _threads_configured
    if not _threads_configured:
        _threads_configured = True
        cores = os.cpu_count() or 1
        try:
            # One pool sized to the machine avoids oversubscribing small hosts;
            # TensorFlow only accepts this before its runtime starts.
            tf.config.threading.set_intra_op_parallelism_threads(cores)
            tf.config.threading.set_inter_op_parallelism_threads(min(2, cores))
        except RuntimeError:
            pass
    keras.utils.set_random_seed(seed)


def to_numpy(value: Tensor) -> np.ndarray:
    """A tensor's or variable's values as a numpy array.

    ``keras.ops.convert_to_numpy`` calls ``np.array`` on TensorFlow variables, whose
    ``__array__`` predates numpy 2's ``copy`` keyword and so warns on every call;
    ``np.asarray`` reads the same values without asking for a copy.
    """
    return np.asarray(value)


def make_optimizer(name: str, learning_rate: float) -> keras.optimizers.Optimizer:
    optimizers = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop}
    return optimizers[name](learning_rate=learning_rate)


def batched(
    inputs: Any, labels: np.ndarray, batch_size: int, sample_weights: np.ndarray | None = None
) -> tf.data.Dataset:
    """A batched, prefetching dataset over in-memory arrays (already shuffled by the caller)."""
    elements = (inputs, labels) if sample_weights is None else (inputs, labels, sample_weights)
    return tf.data.Dataset.from_tensor_slices(elements).batch(batch_size).prefetch(tf.data.AUTOTUNE)


def fit_epochs(
    model: keras.Model,
    reporter: EpochReporter,
    epoch_data: Callable[[int], tf.data.Dataset],
    *,
    validation_data: tf.data.Dataset | None = None,
    patience: int = 0,
) -> None:
    """Train one epoch per ``model.fit`` call so data can be resampled and progress reported.

    With ``validation_data`` and ``patience`` > 0, stop once ``val_loss`` has
    not improved for ``patience`` epochs and restore the best weights.
    """
    reporter.check_cancel()
    best_loss, best_weights, epochs_without_improvement = math.inf, None, 0
    for epoch in range(1, reporter.total_epochs + 1):
        # Data arrive shuffled; shuffle=False only silences Keras's warning about datasets.
        result = model.fit(epoch_data(epoch), validation_data=validation_data, epochs=1, verbose=0, shuffle=False)
        logs = {name: float(values[-1]) for name, values in result.history.items()}
        stop_early = False
        if validation_data is not None and patience > 0:
            if logs["val_loss"] < best_loss:
                best_loss, best_weights, epochs_without_improvement = logs["val_loss"], model.get_weights(), 0
            else:
                epochs_without_improvement += 1
                stop_early = epochs_without_improvement >= patience
        reporter.epoch_done(epoch, logs, last=stop_early)
        if stop_early:
            break
    if best_weights is not None:
        model.set_weights(best_weights)


def predict_in_batches(model: keras.Model, inputs: list[np.ndarray], batch_size: int = 4096) -> np.ndarray:
    """Call the model directly (no ``predict`` overhead) over batches of its positional inputs."""
    outputs = []
    for start in range(0, len(inputs[0]), batch_size):
        batch = [value[start : start + batch_size] for value in inputs]
        outputs.append(keras.ops.convert_to_numpy(model(batch if len(batch) > 1 else batch[0], training=False)))
    return np.concatenate(outputs, axis=0)


@keras.saving.register_keras_serializable(package="recommender_ml")
class InBatchLogits(keras.layers.Layer):
    """Similarity of every user to every item in the batch, for in-batch softmax.

    Row i's positive is column i; the other columns act as negatives.
    Subtracting log q(item) (the item's sampling probability) corrects the
    popularity bias of in-batch negatives (Yi et al., RecSys 2019).
    """

    def __init__(self, temperature: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.temperature = temperature

    def call(self, user_vectors: Tensor, item_vectors: Tensor, item_log_q: Tensor) -> Tensor:
        logits = keras.ops.matmul(user_vectors, keras.ops.transpose(item_vectors)) / self.temperature
        return logits - keras.ops.expand_dims(item_log_q, 0)

    def compute_output_shape(
        self, user_vectors_shape: tuple, item_vectors_shape: tuple, item_log_q_shape: tuple
    ) -> tuple:
        return (user_vectors_shape[0], item_vectors_shape[0])

    def get_config(self) -> dict:
        return {**super().get_config(), "temperature": self.temperature}


def frozen_table(values: np.ndarray, name: str) -> keras.layers.Embedding:
    """A non-trainable lookup table holding precomputed rows (encoded features)."""
    layer = keras.layers.Embedding(values.shape[0], values.shape[1], trainable=False, name=name)
    layer.build((None,))
    layer.set_weights([values.astype(np.float32)])
    return layer


def in_batch_dataset(inputs: dict, batch_size: int) -> tf.data.Dataset:
    """Batches whose label for row i is i, the target of an in-batch softmax."""

    def add_labels(batch: dict[str, Tensor]) -> tuple[dict[str, Tensor], Tensor]:
        first = next(iter(batch.values()))
        return batch, tf.range(tf.shape(first)[0])

    dataset = tf.data.Dataset.from_tensor_slices(inputs).batch(batch_size)
    return dataset.map(add_labels).prefetch(tf.data.AUTOTUNE)
