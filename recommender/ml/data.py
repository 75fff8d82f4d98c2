"""Turn caller DataFrames (or compact :class:`~.arrays.InteractionArrays`) into validated, index-encoded training data.

Interactions are implicit feedback: every row counts as a positive signal
(filter low ratings or unwanted event types before training).  ``value`` and
``event_type`` are accepted but not interpreted by the current recipes.
Problems a person can fix (missing columns, too little data) raise
:class:`DataError` with a message saying what to change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .arrays import InteractionArrays
from .encoding import FeatureEncoder, category_tokens
from .errors import DataError

MIN_USERS = 2
MIN_ITEMS = 2
MIN_TABLE_ROWS = 10
MAX_VOCABULARY = 1000


@dataclass
class InteractionData:
    """Interactions with string ids mapped to dense integer indices."""

    user_ids: np.ndarray  # index -> user id (str)
    item_ids: np.ndarray  # index -> item id (str)
    user_index: np.ndarray  # per row, int32
    item_index: np.ndarray  # per row, int32
    timestamps: np.ndarray | None  # per row, float64 unix seconds
    items: pd.DataFrame | None  # item features, one row per item id, aligned to item_ids
    users: pd.DataFrame | None  # user features, aligned to user_ids
    event_types: np.ndarray | None = None  # per row, str ("" where missing); None without the column

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_rows(self) -> int:
        return len(self.user_index)

    def unique_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Distinct (user, item) index pairs, sorted by user then item."""
        keys = np.unique(self.user_index.astype(np.int64) * self.n_items + self.item_index)
        return (keys // self.n_items).astype(np.int32), (keys % self.n_items).astype(np.int32)

    def user_history_csr(self) -> tuple[np.ndarray, np.ndarray]:
        """Each user's distinct items as CSR ``(indptr, indices)``."""
        users, items = self.unique_pairs()
        indptr = np.zeros(self.n_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(users, minlength=self.n_users), out=indptr[1:])
        return indptr, items

    def snapshot(self) -> dict:
        latest = float(self.timestamps.max()) if self.timestamps is not None and self.n_rows else None
        return {"rows": self.n_rows, "users": self.n_users, "items": self.n_items, "latest_timestamp": latest}


@dataclass
class TabularData:
    """Feature columns plus a target vector for prediction recipes."""

    features: pd.DataFrame
    target: np.ndarray
    target_name: str

    def snapshot(self) -> dict:
        return {
            "rows": len(self.features),
            "columns": list(self.features.columns),
            "target": self.target_name,
            "latest_timestamp": None,
        }


# Names that say "identifier": id, customer_id, CustomerID, uuid, order_key, ...
_ID_NAME_CASED = re.compile(r"[a-z0-9](Id|ID)$")
# A column with a distinct value on at least this share of rows identifies rows rather than describing them.
UNIQUE_SHARE = 0.95
MIN_ROWS_FOR_UNIQUENESS = 20


def _looks_like_id_name(name: str) -> bool:
    """``id``, ``customer_id``, ``order-key``, ``CustomerID``, ``userId``; not ``paid`` or ``valid``."""
    lowered = str(name).lower()
    if lowered in {"id", "uuid", "guid", "key"}:
        return True
    if re.search(r"[_\s.-](id|uuid|guid|key)$", lowered):
        return True
    return bool(_ID_NAME_CASED.search(str(name)))


def identifier_columns(table: pd.DataFrame, target: str | None = None) -> list[str]:
    """Columns of ``table`` that identify rows rather than describe them, in table order.

    A column is an identifier when its name says so (``id``, ``customer_id``,
    ``CustomerID``, ``uuid``) or when it holds whole numbers or text with a
    distinct value on nearly every row (at least 20 rows). Measured numbers
    (prices, durations with decimals) are unique too but are features, so
    columns of fractional numbers never count by uniqueness alone.
    """
    found = []
    for name in table.columns:
        if name == target:
            continue
        column = table[name].dropna()
        if _looks_like_id_name(name):
            found.append(name)
            continue
        if len(column) < MIN_ROWS_FOR_UNIQUENESS or pd.api.types.is_bool_dtype(column):
            continue
        if pd.api.types.is_float_dtype(column) and not (column == column.round()).all():
            continue
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_object_dtype(column):
            if column.astype(str).nunique() >= UNIQUE_SHARE * len(column):
                found.append(name)
    return found


def choose_feature_columns(table: pd.DataFrame, target: str, chosen: list[str] | None = None) -> tuple[list, list]:
    """``(feature columns, identifier columns left out)`` of a prediction table.

    ``chosen`` (the model's ``feature_columns``) wins when given; else every
    column but the target and the identifiers. Raises DataError naming a chosen
    column the table does not have.
    """
    columns = [name for name in table.columns if name != target]
    if chosen:
        missing = [name for name in chosen if name not in table.columns]
        if missing:
            raise DataError(
                f"feature column {missing[0]!r} is not in the data; its columns are: {', '.join(map(str, columns))}"
            )
        return [name for name in chosen if name != target], []
    identifiers = identifier_columns(table, target)
    return [name for name in columns if name not in identifiers], identifiers


def prepare_interactions(
    interactions: pd.DataFrame | None,
    items: pd.DataFrame | None = None,
    users: pd.DataFrame | None = None,
    *,
    include_feature_only_items: bool = False,
) -> InteractionData:
    """Validate ``interactions`` and index users/items.

    With ``include_feature_only_items`` items that appear only in ``items``
    join the catalogue (recipes that score items from features use this).
    """
    if interactions is None:
        raise DataError("this recipe needs an interactions table (columns user_id, item_id)")
    if isinstance(interactions, InteractionArrays):
        return _prepare_arrays(interactions, items, users, include_feature_only_items)
    if not isinstance(interactions, pd.DataFrame):
        raise DataError(
            f"interactions must be a pandas DataFrame or InteractionArrays, got {type(interactions).__name__}"
        )
    missing = [column for column in ("user_id", "item_id") if column not in interactions.columns]
    if missing:
        raise DataError(
            f"interactions is missing required column(s) {', '.join(missing)}; "
            f"found columns: {', '.join(map(str, interactions.columns)) or 'none'}"
        )
    frame = with_complete_timestamps(interactions.dropna(subset=["user_id", "item_id"]))
    user_codes, user_ids = pd.factorize(frame["user_id"].astype(str), sort=True)
    item_values = frame["item_id"].astype(str)
    item_catalogue = np.unique(item_values.to_numpy())
    if include_feature_only_items and items is not None:
        _require_id_column(items, "item_id", "items")
        item_catalogue = np.union1d(item_catalogue, items["item_id"].dropna().astype(str).to_numpy())
    item_ids = item_catalogue.astype(str)
    if len(user_ids) < MIN_USERS or len(item_catalogue) < MIN_ITEMS:
        raise DataError(
            f"need interactions from at least {MIN_USERS} users on at least {MIN_ITEMS} items; "
            f"got {len(user_ids)} user(s) and {len(item_catalogue)} item(s) after dropping rows without ids"
        )
    timestamps = _timestamps_as_seconds(frame["timestamp"]) if "timestamp" in frame.columns else None
    return InteractionData(
        user_ids=np.asarray(user_ids, dtype=str),
        item_ids=item_ids,
        user_index=user_codes.astype(np.int32),
        item_index=np.searchsorted(item_ids, item_values.to_numpy()).astype(np.int32),
        timestamps=timestamps,
        items=_align_features(items, "item_id", item_ids, "items"),
        users=_align_features(users, "user_id", np.asarray(user_ids, dtype=str), "users"),
        event_types=_event_types(frame),
    )


def _prepare_arrays(
    arrays: InteractionArrays,
    items: pd.DataFrame | None,
    users: pd.DataFrame | None,
    include_feature_only_items: bool,
) -> InteractionData:
    """The same InteractionData as from a frame, from compact arrays: ids sorted, ids no row uses left out.

    Only int32 index arrays are rewritten; the rows stay in their order.
    """
    user_ids, user_index = _sorted_codes(arrays.user_ids, arrays.user_index)
    extra_items = None
    if include_feature_only_items and items is not None:
        _require_id_column(items, "item_id", "items")
        extra_items = items["item_id"].dropna().astype(str).to_numpy()
    item_ids, item_index = _sorted_codes(arrays.item_ids, arrays.item_index, extra_items)
    if len(user_ids) < MIN_USERS or len(item_ids) < MIN_ITEMS:
        raise DataError(
            f"need interactions from at least {MIN_USERS} users on at least {MIN_ITEMS} items; "
            f"got {len(user_ids)} user(s) and {len(item_ids)} item(s) after dropping rows without ids"
        )
    return InteractionData(
        user_ids=user_ids,
        item_ids=item_ids,
        user_index=user_index,
        item_index=item_index,
        timestamps=arrays.timestamps,
        event_types=_event_types_of(arrays),
        items=_align_features(items, "item_id", item_ids, "items"),
        users=_align_features(users, "user_id", user_ids, "users"),
    )


def _sorted_codes(ids: np.ndarray, codes: np.ndarray, extra: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(sorted ids that rows use, plus extra, as str; each row's index into them, int32)``."""
    used = np.flatnonzero(np.bincount(codes, minlength=len(ids))) if len(codes) else np.empty(0, dtype=np.int64)
    kept = ids[used].astype(str)
    catalogue = np.unique(kept) if extra is None else np.union1d(kept, extra.astype(str))
    remap = np.full(len(ids), -1, dtype=np.int32)
    remap[used] = np.searchsorted(catalogue, kept)
    return catalogue.astype(str), remap[codes]


def _event_types_of(arrays: InteractionArrays) -> np.ndarray | None:
    """Each row's event type as ``_event_types`` gives it from a frame ("" where missing), or None."""
    if arrays.event_types is None or arrays.event_index is None:
        return None
    return arrays.event_types[arrays.event_index].astype(str)


def _event_types(frame: pd.DataFrame) -> np.ndarray | None:
    if "event_type" not in frame.columns:
        return None
    column = frame["event_type"]
    return column.astype(object).where(column.notna() & (column.astype(str) != "None"), "").astype(str).to_numpy()


def prepare_table(table: pd.DataFrame | None, target: str | None, *, classification: bool) -> TabularData:
    """Validate a prediction table and split off its target column."""
    if table is None or target is None:
        raise DataError("prediction recipes need a table and the name of its target column")
    if not isinstance(table, pd.DataFrame):
        raise DataError(f"table must be a pandas DataFrame, got {type(table).__name__}")
    if target not in table.columns:
        raise DataError(f"target column {target!r} not found; columns are: {', '.join(map(str, table.columns))}")
    labelled = table[table[target].notna()]
    if len(labelled) < MIN_TABLE_ROWS:
        raise DataError(f"need at least {MIN_TABLE_ROWS} rows with a {target!r} value, got {len(labelled)}")
    features = labelled.drop(columns=[target]).reset_index(drop=True)
    if features.shape[1] == 0:
        raise DataError("the table has no feature columns besides the target")
    values = labelled[target].to_numpy()
    if classification:
        if len(np.unique(values.astype(str))) < 2:
            raise DataError(f"target {target!r} has a single class ({values[0]!r}); a classifier needs at least two")
    else:
        numeric = pd.to_numeric(labelled[target], errors="coerce")
        if numeric.isna().any():
            raise DataError(f"target {target!r} must be numeric for regression")
        values = numeric.to_numpy(dtype=np.float64)
    return TabularData(features=features, target=values, target_name=target)


def fit_feature_encoder(frame: pd.DataFrame, columns: list[str] | None = None) -> FeatureEncoder:
    """Learn an encoding for ``columns`` (default: all usable columns of ``frame``).

    Numeric and boolean columns are standardised; string columns become
    categories.  Columns of another kind (dates, nested objects) and string
    columns with a distinct value on nearly every row (titles, free text,
    which carry no shared signal as categories) are left out.
    """
    specs = []
    for name in columns if columns is not None else list(frame.columns):
        column = frame[name]
        if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
            specs.append(_numeric_spec(name, column.astype(float)))
        elif pd.api.types.is_object_dtype(column) or isinstance(column.dtype, (pd.StringDtype, pd.CategoricalDtype)):
            spec = _categorical_spec(name, column)
            if spec is not None:
                specs.append(spec)
    return FeatureEncoder(specs)


def encoder_columns(encoder: FeatureEncoder, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Pull the encoder's input columns out of ``frame`` in the form ``transform_columns`` expects."""
    columns = {}
    for spec in encoder.specs:
        column = frame[spec["name"]]
        if spec["kind"] == "numeric":
            columns[spec["name"]] = column.astype(float).to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            columns[spec["name"]] = column.astype(object).where(column.notna(), None).to_numpy()
    return columns


def encode_frame(encoder: FeatureEncoder, frame: pd.DataFrame) -> np.ndarray:
    return encoder.transform_columns(encoder_columns(encoder, frame), len(frame))


def _numeric_spec(name: str, column: pd.Series) -> dict:
    observed = column.dropna()
    fill = float(observed.median()) if len(observed) else 0.0
    filled = column.fillna(fill)
    std = float(filled.std(ddof=0))
    return {
        "name": name,
        "kind": "numeric",
        "fill": fill,
        "mean": float(filled.mean()),
        # A constant column would divide by zero; any positive scale maps it to 0.
        "std": std if std > 0 else 1.0,
        "indicator": bool(column.isna().any()),
    }


def _categorical_spec(name: str, column: pd.Series) -> dict | None:
    values = column.astype(object).where(column.notna(), None)
    non_null = values.dropna()
    multi = bool(non_null.astype(str).str.contains(r"\|", regex=True).any())
    if not multi and len(non_null) >= 20 and non_null.nunique() > 0.5 * len(non_null):
        return None
    counts: dict[str, int] = {}
    for value in values:
        for token in category_tokens(value, multi):
            counts[token] = counts.get(token, 0) + 1
    # Keep the most frequent tokens; rarer ones share the unknown slot.
    ranked = sorted(counts, key=lambda token: (-counts[token], token))[:MAX_VOCABULARY]
    return {"name": name, "kind": "categorical", "vocabulary": sorted(ranked), "multi": multi}


def _seconds(column: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(column):
        if getattr(column.dt, "tz", None) is not None:
            column = column.dt.tz_convert("UTC").dt.tz_localize(None)
        return (column - pd.Timestamp("1970-01-01")) / pd.Timedelta(seconds=1)
    return pd.to_numeric(column, errors="coerce")


def with_complete_timestamps(interactions: pd.DataFrame) -> pd.DataFrame:
    """``interactions`` with every timestamp known, in unix seconds.

    Rows are in arrival order, so a row without a timestamp takes the one of the
    row before it (rows before any known timestamp take the first known one).
    Without any timestamp at all the column is dropped: order is then row order.
    """
    if "timestamp" not in interactions.columns:
        return interactions
    seconds = _seconds(interactions["timestamp"])
    if seconds.isna().all():
        return interactions.drop(columns=["timestamp"])
    if seconds.isna().any():
        seconds = seconds.ffill().bfill()
    return interactions.assign(timestamp=seconds.to_numpy(dtype=np.float64))


def _timestamps_as_seconds(column: pd.Series) -> np.ndarray:
    seconds = _seconds(column)
    if seconds.isna().any():
        raise DataError("timestamp column has missing or non-numeric values; use unix seconds or datetimes")
    return seconds.to_numpy(dtype=np.float64)


def _require_id_column(frame: pd.DataFrame, id_column: str, label: str) -> None:
    if not isinstance(frame, pd.DataFrame) or id_column not in frame.columns:
        raise DataError(f"{label} must be a DataFrame with an {id_column!r} column")


def _align_features(frame: pd.DataFrame | None, id_column: str, ids: np.ndarray, label: str) -> pd.DataFrame | None:
    """One feature row per id, in index order; ids without a row get missing values."""
    if frame is None:
        return None
    _require_id_column(frame, id_column, label)
    deduplicated = frame.assign(**{id_column: frame[id_column].astype(str)}).drop_duplicates(id_column, keep="last")
    aligned = deduplicated.set_index(id_column).reindex(ids)
    return aligned.reset_index(drop=True)
