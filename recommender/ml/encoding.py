"""Numpy-only feature encoding shared by training and serving.

A :class:`FeatureEncoder` turns named columns into one float32 matrix:
numeric columns are imputed with the training median, standardised and, when
training saw gaps, get a 0/1 missing indicator; categorical columns become
one-hot vectors (multi-valued ``a|b|c`` strings become averaged multi-hot)
over the training vocabulary plus one slot for unseen values.  Training
(:mod:`recommender.ml.data`) and the scorers call the same code, so the
numpy forward pass sees exactly the matrix the Keras model was trained on.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import PredictionInputError

MISSING_TOKEN = "__missing__"  # noqa: S105 - a vocabulary token, not a secret
MULTI_VALUE_SEPARATOR = "|"


class FeatureEncoder:
    """Apply a fitted, JSON-serialisable encoding spec to columns or rows."""

    def __init__(self, specs: list[dict]):
        self.specs = [dict(spec) for spec in specs]
        # Token -> slot per categorical column (empty for numeric ones, which have no vocabulary).
        self._vocab_index: list[dict[Any, int]] = [
            {token: position for position, token in enumerate(spec["vocabulary"])}
            if spec["kind"] == "categorical"
            else {}
            for spec in self.specs
        ]

    @property
    def input_columns(self) -> list[str]:
        return [spec["name"] for spec in self.specs]

    @property
    def width(self) -> int:
        return sum(_spec_width(spec) for spec in self.specs)

    def to_state(self) -> list[dict]:
        return [dict(spec) for spec in self.specs]

    @classmethod
    def from_state(cls, state: list[dict]) -> FeatureEncoder:
        return cls(state)

    def transform_columns(self, columns: Mapping[str, Sequence | np.ndarray], n_rows: int) -> np.ndarray:
        """Encode whole columns (training path); values are assumed already type-checked."""
        blocks = [np.zeros((n_rows, 0), dtype=np.float32)]
        for spec, vocab_index in zip(self.specs, self._vocab_index, strict=True):
            values = columns[spec["name"]]
            if spec["kind"] == "numeric":
                blocks.append(_encode_numeric(spec, np.asarray(values, dtype=np.float64)))
            else:
                blocks.append(_encode_categorical(spec, vocab_index, values, n_rows))
        return np.concatenate(blocks, axis=1)

    def transform_rows(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Encode request rows (serving path), raising PredictionInputError on bad input."""
        columns: dict[str, list] = {spec["name"]: [] for spec in self.specs}
        for row_number, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise PredictionInputError(row_number, "", f"expected an object of columns, got {type(row).__name__}")
            for spec in self.specs:
                name = spec["name"]
                if name not in row:
                    raise PredictionInputError(row_number, name, "missing column")
                columns[name].append(_checked_value(spec, row[name], row_number))
        return self.transform_columns(columns, len(rows))


def category_tokens(value: Any, multi: bool) -> list[str]:
    """The vocabulary tokens a raw categorical value stands for."""
    if is_missing(value):
        return [MISSING_TOKEN]
    if multi:
        parts = value if isinstance(value, (list, tuple)) else str(value).split(MULTI_VALUE_SEPARATOR)
        tokens = [str(part).strip() for part in parts if str(part).strip()]
        return tokens or [MISSING_TOKEN]
    return [str(value)]


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _spec_width(spec: dict) -> int:
    if spec["kind"] == "numeric":
        return 2 if spec["indicator"] else 1
    return len(spec["vocabulary"]) + 1


def _encode_numeric(spec: dict, values: np.ndarray) -> np.ndarray:
    missing = np.isnan(values)
    filled = np.where(missing, spec["fill"], values)
    standardised = (filled - spec["mean"]) / spec["std"]
    if spec["indicator"]:
        return np.stack([standardised, missing], axis=1).astype(np.float32)
    return standardised.astype(np.float32)[:, None]


def _encode_categorical(spec: dict, vocab_index: dict, values: Sequence | np.ndarray, n_rows: int) -> np.ndarray:
    unknown_slot = len(vocab_index)
    out = np.zeros((n_rows, unknown_slot + 1), dtype=np.float32)
    for row, value in enumerate(values):
        tokens = category_tokens(value, spec["multi"])
        weight = 1.0 / len(tokens)
        for token in tokens:
            out[row, vocab_index.get(token, unknown_slot)] += weight
    return out


def _checked_value(spec: dict, value: Any, row_number: int) -> Any:
    name = spec["name"]
    if is_missing(value):
        return math.nan if spec["kind"] == "numeric" else None
    if spec["kind"] == "numeric":
        if isinstance(value, (bool, np.bool_)):
            return float(value)
        if isinstance(value, numbers.Real):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                raise PredictionInputError(row_number, name, f"expected a number, got {value!r}") from None
        else:
            raise PredictionInputError(row_number, name, f"expected a number, got {type(value).__name__}")
        if math.isinf(number):
            raise PredictionInputError(row_number, name, "expected a finite number, got infinity")
        return number
    allowed = (str, numbers.Number, np.bool_) + ((list, tuple) if spec["multi"] else ())
    if not isinstance(value, allowed):
        raise PredictionInputError(row_number, name, f"expected a category value, got {type(value).__name__}")
    return value
