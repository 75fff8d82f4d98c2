"""Vectors for catalogue items added after training, from their text (and features).

A recipe whose item tower reads item text (``two_tower``, ``sasrec``) keeps an
:class:`ItemPlacer` in its scorer: the text hashing settings and the weights
that turn an item's words (and, for ``two_tower``, its catalogue features) into
its vector, exactly as the Keras tower does for an item whose id it never
trained. Serving hands it the catalogue rows of items the model has not seen
and serves them beside the trained ones, without retraining
(:meth:`recommender.ml.scorers.RecommendationScorer.with_items`). The parity
test holds a placed item's vector to the one Keras computed within 1e-4.
Numpy only.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .encoding import FeatureEncoder, is_missing
from .text import TEXT_COLUMNS, hashed_tokens

# Keras' UnitNormalization divides by sqrt(max(sum of squares, this)).
_UNIT_EPSILON = 1e-12


def row_text(row: Mapping) -> str:
    """An item's text as training joins it (:func:`recommender.ml.text.item_texts`): the text columns, in order."""
    parts = []
    for name in TEXT_COLUMNS:
        value = row.get(name)
        if isinstance(value, (list, tuple)):
            value = "|".join(str(part) for part in value)
        parts.append("" if is_missing(value) else str(value))
    return " ".join(parts)


class ItemPlacer:
    """An item tower in numpy: the mean of the item's hashed word embeddings, then (two_tower) its MLP.

    Without ``kernels`` the vector is the word mean itself (sasrec: an unseen
    item's id embedding counts for nothing). With them, the tower's input is
    ``[id_vector, features @ feature_kernel, word mean]`` (the parts that
    exist), followed by ReLU layers, a linear output and, with ``normalise``,
    unit length.
    """

    def __init__(self, *, buckets: int, max_tokens: int, token_vectors: np.ndarray, id_vector: np.ndarray | None = None,
                 encoder: Any = None, feature_kernel: np.ndarray | None = None, kernels: Sequence[np.ndarray] = (),
                 biases: Sequence[np.ndarray] = (), normalise: bool = False) -> None:  # fmt: skip
        self.buckets, self.max_tokens = int(buckets), int(max_tokens)
        self.token_vectors = np.asarray(token_vectors, dtype=np.float32)
        self.id_vector = None if id_vector is None else np.asarray(id_vector, dtype=np.float32)
        self.encoder = encoder
        self.feature_kernel = None if feature_kernel is None else np.asarray(feature_kernel, dtype=np.float32)
        self.kernels = [np.asarray(kernel, dtype=np.float32) for kernel in kernels]
        self.biases = [np.asarray(bias, dtype=np.float32) for bias in biases]
        self.normalise = bool(normalise)

    def vectors(self, rows: Sequence[Mapping]) -> np.ndarray:
        """One vector per catalogue row (``title``, ``description``, ``categories``, features by name)."""
        tokens = hashed_tokens([row_text(row) for row in rows], self.buckets, self.max_tokens)
        present = (tokens > 0).astype(np.float32)
        bag = (self.token_vectors[tokens] * present[..., None]).sum(axis=1)
        bag /= np.maximum(present.sum(axis=1), 1.0)[:, None]
        if not self.kernels:
            return bag
        parts = []
        if self.id_vector is not None:
            parts.append(np.broadcast_to(self.id_vector, (len(rows), len(self.id_vector))))
        if self.encoder is not None:
            parts.append(self._features(rows) @ self.feature_kernel)
        parts.append(bag)
        hidden = np.concatenate(parts, axis=1)
        for kernel, bias in zip(self.kernels[:-1], self.biases[:-1], strict=True):
            hidden = np.maximum(hidden @ kernel + bias, 0.0)
        output = hidden @ self.kernels[-1] + self.biases[-1]
        if self.normalise:
            output /= np.sqrt(np.maximum((output * output).sum(axis=1, keepdims=True), _UNIT_EPSILON))
        return output.astype(np.float32)

    def _features(self, rows: Sequence[Mapping]) -> np.ndarray:
        """The encoded catalogue features; a missing or unusable value is encoded as missing."""
        columns: dict[str, Any] = {}
        for spec in self.encoder.specs:
            values = [row.get(spec["name"]) for row in rows]
            if spec["kind"] == "numeric":
                columns[spec["name"]] = np.array([_number(value) for value in values], dtype=np.float64)
            else:
                columns[spec["name"]] = [None if is_missing(value) else value for value in values]
        return self.encoder.transform_columns(columns, len(rows))

    def to_state(self, prefix: str = "placer_") -> tuple[dict[str, np.ndarray], dict]:
        arrays = {f"{prefix}token_vectors": self.token_vectors}
        if self.id_vector is not None:
            arrays[f"{prefix}id_vector"] = self.id_vector
        if self.feature_kernel is not None:
            arrays[f"{prefix}feature_kernel"] = self.feature_kernel
        for number, (kernel, bias) in enumerate(zip(self.kernels, self.biases, strict=True)):
            arrays[f"{prefix}kernel{number}"], arrays[f"{prefix}bias{number}"] = kernel, bias
        encoder = None if self.encoder is None else self.encoder.to_state()
        meta = {"buckets": self.buckets, "max_tokens": self.max_tokens, "layers": len(self.kernels),
                "normalise": self.normalise, "encoder": encoder}  # fmt: skip
        return arrays, meta

    @classmethod
    def from_state(cls, arrays: Mapping[str, np.ndarray], meta: dict, prefix: str = "placer_") -> ItemPlacer:
        layers = range(meta["layers"])
        encoder = meta.get("encoder")
        return cls(
            buckets=meta["buckets"], max_tokens=meta["max_tokens"], token_vectors=arrays[f"{prefix}token_vectors"],
            id_vector=arrays.get(f"{prefix}id_vector"),
            encoder=None if encoder is None else FeatureEncoder.from_state(encoder),
            feature_kernel=arrays.get(f"{prefix}feature_kernel"),
            kernels=[arrays[f"{prefix}kernel{n}"] for n in layers], biases=[arrays[f"{prefix}bias{n}"] for n in layers],
            normalise=meta["normalise"],
        )  # fmt: skip

    @property
    def nbytes(self) -> int:
        arrays, _ = self.to_state()
        return int(sum(array.nbytes for array in arrays.values()))


def _number(value: Any) -> float:
    if isinstance(value, (bool, np.bool_)):
        return float(value)
    if isinstance(value, numbers.Real):
        return float(value) if math.isfinite(float(value)) else math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
