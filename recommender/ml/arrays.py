"""Interactions as compact arrays: what training reads, chunk by chunk, instead of a frame of the whole dataset.

A row costs 4 + 4 bytes of user and item index (int32), 8 of timestamp
(float64 Unix seconds) where the data has any, 4 of weight (float32) where it
has any and 2 of event-type code; each distinct id is kept once. The whole
dataset never exists as Python objects or as a pandas frame: a reader hands
chunks to :class:`InteractionArraysBuilder`, which grows the id encodings as
new ids arrive. numpy only, so readers need not import pandas.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class InteractionArrays:
    """Interactions in arrival order, ids encoded in first-seen order.

    ``timestamps`` is complete (a row without one takes the one of the row
    before it; rows before any known one take the first known), or None when
    no row has one. ``weights`` holds each row's ``value`` (NaN where absent),
    or None when no row has one.
    """

    user_ids: np.ndarray  # index -> user id (str)
    item_ids: np.ndarray  # index -> item id (str)
    user_index: np.ndarray  # per row, int32
    item_index: np.ndarray  # per row, int32
    timestamps: np.ndarray | None = None  # per row, float64 Unix seconds
    weights: np.ndarray | None = None  # per row, float32
    event_types: np.ndarray | None = None  # index -> event type (str)
    event_index: np.ndarray | None = None  # per row, int16

    @property
    def n_rows(self) -> int:
        return len(self.user_index)

    @property
    def nbytes(self) -> int:
        """Bytes of the per-row arrays (what grows with the data; the id tables grow with users and items)."""
        arrays = (self.user_index, self.item_index, self.timestamps, self.weights, self.event_index)
        return sum(array.nbytes for array in arrays if array is not None)

    def take(self, rows: np.ndarray) -> InteractionArrays:
        """The rows selected by ``rows`` (a boolean mask or positions), with the same id encodings."""

        def pick(array: np.ndarray | None) -> np.ndarray | None:
            return None if array is None else array[rows]

        return InteractionArrays(
            user_ids=self.user_ids,
            item_ids=self.item_ids,
            user_index=self.user_index[rows],
            item_index=self.item_index[rows],
            timestamps=pick(self.timestamps),
            weights=pick(self.weights),
            event_types=self.event_types,
            event_index=pick(self.event_index),
        )

    def user_id_per_row(self) -> np.ndarray:
        """Each row's user id (materialises strings: for small selections such as a test split)."""
        return self.user_ids[self.user_index]

    def item_id_per_row(self) -> np.ndarray:
        return self.item_ids[self.item_index]


class IdEncoder:
    """Dense int32 codes for string ids in first-seen order, grown one chunk at a time."""

    def __init__(self) -> None:
        self._codes: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._codes)

    def encode(self, values: Sequence[str]) -> np.ndarray:
        codes = self._codes
        # One dict look-up per value of the chunk, no object kept per row.
        return np.fromiter((codes.setdefault(value, len(codes)) for value in values), dtype=np.int32, count=len(values))

    def ids(self) -> np.ndarray:
        """Index -> id, as a numpy string array."""
        return np.array(list(self._codes), dtype=str) if self._codes else np.array([], dtype=str)


class InteractionArraysBuilder:
    """Collects chunks of rows into one :class:`InteractionArrays`.

    With ``capacity`` (the row count, when the reader knows it) the arrays are
    allocated once and each chunk is written in place; without, or past it,
    they grow by doubling.
    """

    def __init__(self, capacity: int = 0):
        self.users, self.items, self.events = IdEncoder(), IdEncoder(), IdEncoder()
        self._arrays = {name: np.empty(capacity, dtype=dtype) for name, dtype in _DTYPES.items()}
        self.rows = 0

    def add(
        self,
        user_ids: Sequence[str],
        item_ids: Sequence[str],
        timestamps: Iterable[float] | None = None,
        weights: Iterable[float] | None = None,
        event_types: Sequence[str] | None = None,
    ) -> None:
        """Append a chunk: ids as strings; timestamps (Unix seconds) and weights with NaN where unknown."""
        n = len(user_ids)
        if len(item_ids) != n:
            raise ValueError(f"a chunk has {n} user ids but {len(item_ids)} item ids")
        chunk = {
            "user": self.users.encode(user_ids),
            "item": self.items.encode(item_ids),
            "time": _floats(timestamps, n, np.float64),
            "weight": _floats(weights, n, np.float32),
            "event": self.events.encode(event_types) if event_types is not None else np.zeros(n, dtype=np.int32),
        }
        end = self.rows + n
        for name, values in chunk.items():
            array = self._arrays[name]
            if end > len(array):
                array = self._arrays[name] = _grown(array, max(end, 2 * len(array)))
            array[self.rows : end] = values
        self.rows = end

    def build(self) -> InteractionArrays:
        """The rows added, in order (the builder's arrays, which it lets go of)."""
        # Exact arrays are handed over as they are; grown ones are trimmed one column at a time.
        joined = {name: array if len(array) == self.rows else array[: self.rows].copy()
                  for name, array in self._arrays.items()}  # fmt: skip
        self._arrays = {name: np.empty(0, dtype=dtype) for name, dtype in _DTYPES.items()}
        weights = joined["weight"]
        event_types = self.events.ids()
        return InteractionArrays(
            user_ids=self.users.ids(),
            item_ids=self.items.ids(),
            user_index=joined["user"],
            item_index=joined["item"],
            timestamps=complete_timestamps(joined["time"]),
            weights=None if np.isnan(weights).all() else weights,
            event_types=event_types if len(event_types) else None,
            event_index=joined["event"] if len(event_types) else None,
        )


_DTYPES = {"user": np.int32, "item": np.int32, "time": np.float64, "weight": np.float32, "event": np.int16}


def _grown(array: np.ndarray, size: int) -> np.ndarray:
    bigger = np.empty(size, dtype=array.dtype)
    bigger[: len(array)] = array
    return bigger


def _floats(values: Any, n: int, dtype: Any) -> np.ndarray:
    if values is None:
        return np.full(n, np.nan, dtype=dtype)
    # A value beyond float32's range becomes ±inf: weights need the magnitude, not the last digits.
    with np.errstate(over="ignore"):
        array = np.asarray(values, dtype=dtype)
    if array.shape != (n,):
        raise ValueError(f"a chunk has {n} rows but {array.shape[0]} values in another column")
    return array


def complete_timestamps(seconds: np.ndarray) -> np.ndarray | None:
    """Fill unknown (NaN) timestamps from the row before, leading ones from the first known; None if none known."""
    known = ~np.isnan(seconds)
    if not known.any():
        return None
    if known.all():
        return seconds
    source = np.where(known, np.arange(len(seconds)), 0)
    np.maximum.accumulate(source, out=source)
    source[: np.argmax(known)] = np.argmax(known)
    return seconds[source]
