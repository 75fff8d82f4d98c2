"""Multi-layer perceptrons for tabular classification and regression.

Columns are encoded by :class:`recommender.ml.encoding.FeatureEncoder`
(standardised numbers with median imputation and missing indicators,
one-hot categories with an unknown slot); the encoder travels inside the
scorer so serving applies the same preprocessing.  A seeded share of the
rows is held out for validation and early stopping.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DataError
from ..params import Param
from ..progress import EpochReporter
from ..scorers import PredictorScorer
from .base import PREDICTION, FitResult, Recipe

if TYPE_CHECKING:
    # Keras is imported only when a model trains
    import keras
    import pandas as pd
    import tensorflow as tf

    from ..data import TabularData
    from ..progress import TrainingCallbacks


def _shared_params(epochs: int) -> tuple[Param, ...]:
    return (
        Param("hidden_layers", "int_list", (64, 32), min=1, max=4096, help="Hidden layer sizes."),
        Param("activation", "choice", "relu", choices=("relu", "tanh", "gelu"), help="Hidden layer activation."),
        Param("dropout", "float", 0.1, min=0.0, max=0.9, help="Dropout after each hidden layer."),
        Param("optimizer", "choice", "adam", choices=("adam", "sgd", "rmsprop"), help="Gradient method."),
        Param("learning_rate", "float", 0.001, min=1e-6, max=1.0, help="Optimizer learning rate."),
        Param("epochs", "int", epochs, min=1, max=1000, help="Maximum passes over the training rows."),
        Param("batch_size", "int", 64, min=1, max=65536, help="Rows per gradient step."),
        Param(
            "validation_fraction",
            "float",
            0.1,
            min=0.0,
            max=0.5,
            help="Share of rows held out to report validation metrics and stop early; 0 trains on all rows.",
        ),
        Param(
            "early_stopping_patience",
            "int",
            5,
            min=0,
            max=1000,
            help="Stop after this many epochs without validation-loss improvement; 0 never stops early.",
        ),
    )


class _MlpRecipe(Recipe):
    task = PREDICTION
    supports = frozenset({"predict"})

    def fit(self, data: TabularData, params: dict, *, seed: int, callbacks: TrainingCallbacks | None) -> FitResult:
        from .. import keras_support
        from ..data import encode_frame, fit_feature_encoder

        keras_support.configure(seed)
        encoder = fit_feature_encoder(data.features)
        if encoder.width == 0:
            raise DataError("no usable feature columns: provide numeric, boolean or categorical (text) columns")
        features = encode_frame(encoder, data.features)
        targets, weights, scorer_fields = self._targets(data.target, params)
        rng = np.random.default_rng(seed)
        shuffled = rng.permutation(len(features))
        n_validation = int(round(params["validation_fraction"] * len(features)))
        validation_rows, train_rows = shuffled[:n_validation], shuffled[n_validation:]
        model = self._build(encoder.width, params, scorer_fields)
        reporter = EpochReporter(callbacks, params["epochs"])

        def epoch_data(epoch: int) -> tf.data.Dataset:
            order = rng.permutation(train_rows)
            return keras_support.batched(features[order], targets[order], params["batch_size"], weights[order])

        validation = None
        if n_validation:
            validation = keras_support.batched(features[validation_rows], targets[validation_rows], 4096)
        keras_support.fit_epochs(
            model, reporter, epoch_data, validation_data=validation, patience=params["early_stopping_patience"]
        )
        dense = [model.get_layer(f"hidden_{layer}") for layer in range(len(params["hidden_layers"]))]
        dense.append(model.get_layer("output"))
        scorer = PredictorScorer(
            self.name,
            encoder=encoder,
            kernels=[np.asarray(layer.get_weights()[0]) for layer in dense],
            biases=[np.asarray(layer.get_weights()[1]) for layer in dense],
            activation=params["activation"],
            **scorer_fields,
        )
        return FitResult(scorer=scorer, history=reporter.history, keras_model=model)

    def _targets(self, target: np.ndarray, params: dict) -> tuple[np.ndarray, np.ndarray, dict]:
        """Encoded targets, per-row loss weights and the target fields the scorer needs."""
        raise NotImplementedError

    def _output(self, scorer_fields: dict) -> tuple[int, object, list]:
        """Output units, loss and metrics."""
        raise NotImplementedError

    def _build(self, width: int, params: dict, scorer_fields: dict) -> keras.Model:
        import keras

        from ..keras_support import make_optimizer

        inputs = keras.Input(shape=(width,), name="features")
        hidden = inputs
        for layer, units in enumerate(params["hidden_layers"]):
            hidden = keras.layers.Dense(units, activation=params["activation"], name=f"hidden_{layer}")(hidden)
            if params["dropout"] > 0:
                hidden = keras.layers.Dropout(params["dropout"], name=f"dropout_{layer}")(hidden)
        units, loss, metrics = self._output(scorer_fields)
        model = keras.Model(inputs, keras.layers.Dense(units, name="output")(hidden), name=self.name)
        model.compile(
            optimizer=make_optimizer(params["optimizer"], params["learning_rate"]), loss=loss, metrics=metrics
        )
        return model


class MlpClassifier(_MlpRecipe):
    name = "mlp_classifier"
    description = "Feed-forward network predicting a class and its probabilities from table columns."
    params = _shared_params(epochs=50) + (
        Param(
            "class_weight",
            "choice",
            "none",
            choices=("none", "balanced"),
            help="'balanced' weights each class inversely to its frequency, for rare classes.",
        ),
    )

    @property
    def is_classifier(self) -> bool:
        return True

    def _targets(self, target: pd.Series, params: dict) -> tuple[np.ndarray, np.ndarray, dict]:
        labels = [_native(value) for value in target]
        classes = sorted(set(labels), key=lambda label: (str(type(label)), str(label)))
        index = {label: position for position, label in enumerate(classes)}
        encoded = np.array([index[label] for label in labels], dtype=np.int32)
        weights = np.ones(len(encoded), dtype=np.float32)
        if params["class_weight"] == "balanced":
            counts = np.bincount(encoded, minlength=len(classes))
            weights = (len(encoded) / (len(classes) * counts))[encoded].astype(np.float32)
        return encoded, weights, {"classes": classes}

    def _output(self, scorer_fields: dict) -> tuple[int, keras.losses.Loss, list[keras.metrics.Metric]]:
        import keras

        return (
            len(scorer_fields["classes"]),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )


class MlpRegressor(_MlpRecipe):
    name = "mlp_regressor"
    description = "Feed-forward network predicting a number from table columns."
    params = _shared_params(epochs=100)

    def _targets(self, target: pd.Series, params: dict) -> tuple[np.ndarray, np.ndarray, dict]:
        mean, std = float(target.mean()), float(target.std())
        # Training on a standardised target keeps default learning rates sensible for any unit.
        std = std if std > 0 else 1.0
        standardised = ((target - mean) / std).astype(np.float32)
        return standardised, np.ones(len(target), np.float32), {"target_mean": mean, "target_std": std}

    def _output(self, scorer_fields: dict) -> tuple[int, keras.losses.Loss, list[keras.metrics.Metric]]:
        import keras

        return 1, keras.losses.MeanSquaredError(), []


def _native(value: Any) -> Any:
    """Plain Python value for JSON (numpy scalars become int/float/bool/str)."""
    return value.item() if isinstance(value, np.generic) else value
