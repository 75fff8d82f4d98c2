"""Row validation for each dataset kind, one chunk at a time.

A validator takes a chunk whose columns already carry the platform's names
(after the column mapping), flags every bad value in a :class:`ChunkCheck`, and
returns the good rows in the shape the loaders write. The events API and the
catalogue API validate their JSON batches with the same validators, so a value
is judged the same way whichever way it arrives.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from ..models import (
    MAX_CATEGORY_LENGTH,
    MAX_EVENT_TYPE_LENGTH,
    MAX_ID_LENGTH,
    MAX_RECOMMENDATION_ID_LENGTH,
    MAX_TITLE_LENGTH,
    Dataset,
)
from .problems import UNSTORABLE, UNSTORABLE_REASON, ChunkCheck, ImportFailed, RowError, shown, storable
from .values import (
    as_text,
    is_text,
    may_hold,
    parse_booleans,
    parse_category_lists,
    parse_numbers,
    parse_timestamps,
    typed_values,
)

TIMESTAMP_HELP = "use ISO 8601 (2024-05-01T12:00:00Z), Unix seconds or Unix milliseconds, between 1900 and 2200"
# A column of JSON objects that is merged into the features (JSON Lines, Parquet structs, the catalogue API).
NESTED_FEATURES = "features"


@dataclass
class RawChunk:
    """Rows as a reader produced them: the file's column names, each row's line, unparseable rows."""

    frame: pd.DataFrame
    lines: np.ndarray
    parse_errors: list[RowError] = field(default_factory=list)


class RowValidator:
    """Checks one kind of rows; subclasses declare their columns and build the clean frame."""

    required: tuple = ()
    known: tuple = ()
    # How timestamps are written when not in ISO 8601 (the import's ``timestamp_format`` option).
    timestamp_format: str | None = None

    def __init__(self, dataset, keys, columns, sensitive_columns=None):
        self.dataset = dataset
        self.keys = keys
        self.columns = list(columns)
        if sensitive_columns is None and dataset is not None:
            sensitive_columns = dataset.sensitive_columns
        self.sensitive = set(sensitive_columns or ())

    @property
    def fields(self) -> list[str]:
        """The fields this import sets (an upsert leaves the others as they are)."""
        return [name for name in self.known if name in self.columns]

    @property
    def extra_columns(self) -> list[str]:
        """Columns the kind does not name: ignored for interactions, features for items and users."""
        return [name for name in self.columns if name not in self.required and name not in self.known]

    @property
    def ignored_columns(self) -> list[str]:
        return self.extra_columns

    def check_columns(self, source_names):
        """Fail the whole file when a required column is missing, naming the columns it does have."""
        unstorable = [name for name in self.columns if UNSTORABLE.search(str(name))]
        if unstorable:
            raise ImportFailed(f"The column name '{unstorable[0]}' {UNSTORABLE_REASON}. Rename the column.")
        missing = [name for name in self.required if name not in self.columns]
        if missing:
            found = ", ".join(source_names.get(name, name) for name in self.columns) or "none"
            raise ImportFailed(
                f"The file has no {' or '.join(repr(name) for name in missing)} column (its columns: {found}). "
                f'Rename the column, or map it with column_mapping, e.g. {{"userId": "{missing[0]}"}}.'
            )

    def clean(self, frame: pd.DataFrame, check: ChunkCheck) -> pd.DataFrame:
        raise NotImplementedError

    def _column(self, frame, name):
        if name in frame.columns:
            return frame[name]
        # A missing column reads as empty text, built by Arrow rather than as a million Python Nones.
        return pd.Series(pd.arrays.ArrowExtensionArray(pa.nulls(len(frame), pa.string())), index=frame.index)

    def _ids(self, frame, name, check):
        ids = as_text(self._column(frame, name))
        lengths = ids.str.len().to_numpy()
        check.flag(name, lengths == 0, "is missing or empty")
        # A CSV quote left open swallows the following lines into one cell: never a real id.
        if may_hold(ids, b"\r\n"):
            check.flag(
                name,
                ids.str.contains("[\r\n]", regex=True).to_numpy(dtype=bool),
                "holds a line break (is a quote left open on this line?)",
            )
        check.flag(
            name,
            lengths > MAX_ID_LENGTH,
            lambda value: f"is {len(value)} characters long; ids may have at most {MAX_ID_LENGTH}",
            ids,
        )
        return ids

    def _user_keys(self, ids, good):
        """Stored user keys: pseudonyms when the tenant pseudonymises, computed once per distinct id."""
        ids = ids[good]
        if not self.keys.pseudonymize_user_ids:
            return ids
        return ids.map({raw: self.keys.pseudonym(raw) for raw in ids.unique()})

    def _bounded_text(self, frame, name, check, limit):
        text = as_text(self._column(frame, name))
        check.flag(
            name,
            text.str.len().to_numpy() > limit,
            lambda value: f"is {len(value)} characters long; at most {limit} are allowed",
            text,
        )
        return text

    def _documents(self, frame, columns, good):
        """JSON documents of ``columns`` (plus a nested ``features`` object), sensitive values encrypted."""
        kept = frame.loc[good]
        documents = [{} for _ in range(len(kept))]
        for name in columns:
            for document, value in zip(documents, typed_values(kept[name]), strict=True):
                if value is not None:
                    document[name] = value
        if NESTED_FEATURES in kept.columns:
            for document, nested in zip(documents, kept[NESTED_FEATURES].astype(object), strict=True):
                if isinstance(nested, dict):
                    document.update(nested)
        if self.sensitive:
            for document in documents:
                for name in self.sensitive.intersection(document):
                    document[name] = self.keys.encrypt(document[name])
        return documents

    def _check_nested_features(self, frame, check):
        if NESTED_FEATURES in frame.columns:
            nested = frame[NESTED_FEATURES].astype(object)
            not_object = nested.map(lambda value: value is not None and not isinstance(value, dict | float))
            check.flag(NESTED_FEATURES, not_object.to_numpy(dtype=bool), "must be a JSON object of feature values")


class InteractionValidator(RowValidator):
    required = ("user_id", "item_id")
    known = ("timestamp", "event_type", "value", "event_id", "recommendation_id")

    def clean(self, frame, check):
        users = self._ids(frame, "user_id", check)
        items = self._ids(frame, "item_id", check)
        timestamps, bad_timestamps = parse_timestamps(self._column(frame, "timestamp"), self.timestamp_format)
        check.flag(
            "timestamp",
            bad_timestamps,
            lambda value: f"{shown(value)} is not a timestamp: {TIMESTAMP_HELP}",
            self._column(frame, "timestamp"),
        )
        values, bad_values = parse_numbers(self._column(frame, "value"))
        check.flag("value", bad_values, lambda value: f"{shown(value)} is not a number", self._column(frame, "value"))
        event_types = self._bounded_text(frame, "event_type", check, MAX_EVENT_TYPE_LENGTH)
        event_ids = self._bounded_text(frame, "event_id", check, MAX_ID_LENGTH)
        # Any text is accepted: an id that names no recommendation of this tenant only goes unattributed.
        recommendation_ids = self._bounded_text(frame, "recommendation_id", check, MAX_RECOMMENDATION_ID_LENGTH)
        good = ~check.bad
        event_ids = event_ids[good]
        recommendation_ids = recommendation_ids[good]
        # Text stays in Arrow form: the COPY path hands it to Arrow's CSV writer without Python strings.
        return pd.DataFrame(
            {
                "user_id": self._user_keys(users, good),
                "item_id": items[good],
                "timestamp": timestamps[good],
                "event_type": event_types[good],
                "value": values[good],
                "event_id": event_ids.where(event_ids != ""),
                "recommendation_id": recommendation_ids.where(recommendation_ids != ""),
            }
        )


class ItemValidator(RowValidator):
    required = ("item_id",)
    known = ("title", "categories", "is_active", NESTED_FEATURES)

    @property
    def fields(self):
        names = [name for name in super().fields if name != NESTED_FEATURES]
        if self.extra_columns or NESTED_FEATURES in self.columns:
            names.append(NESTED_FEATURES)
        return names

    @property
    def ignored_columns(self):
        return []

    def clean(self, frame, check):
        item_ids = self._ids(frame, "item_id", check)
        fields = self.fields
        clean = {}
        if "title" in fields:
            clean["title"] = self._bounded_text(frame, "title", check, MAX_TITLE_LENGTH)
        if "categories" in fields:
            categories = pd.Series(parse_category_lists(frame["categories"]), index=frame.index, dtype=object)
            too_long = categories.map(lambda names: any(len(name) > MAX_CATEGORY_LENGTH for name in names))
            check.flag("categories", too_long.to_numpy(dtype=bool), f"has a name longer than {MAX_CATEGORY_LENGTH}")
            clean["categories"] = categories
        if "is_active" in fields:
            active, bad_active = parse_booleans(frame["is_active"])
            check.flag(
                "is_active", bad_active, lambda value: f"{shown(value)} is not true or false", frame["is_active"]
            )
            clean["is_active"] = active.map(lambda value: True if value is None else value)
        self._check_nested_features(frame, check)
        good = ~check.bad
        rows = pd.DataFrame({"item_id": item_ids[good].astype(object)})
        for name, values in clean.items():
            rows[name] = values[good].astype(object).to_numpy()
        if NESTED_FEATURES in fields:
            rows[NESTED_FEATURES] = self._documents(frame, self.extra_columns, good)
        return rows


class EndUserValidator(RowValidator):
    required = ("user_id",)
    known = (NESTED_FEATURES,)

    @property
    def fields(self):
        return [NESTED_FEATURES]

    @property
    def ignored_columns(self):
        return []

    def clean(self, frame, check):
        user_ids = self._ids(frame, "user_id", check)
        self._check_nested_features(frame, check)
        good = ~check.bad
        return pd.DataFrame(
            {
                "user_id": self._user_keys(user_ids, good).to_numpy(),
                NESTED_FEATURES: self._documents(frame, self.extra_columns, good),
            }
        )


class TabularValidator(RowValidator):
    @property
    def required(self):
        return (self.dataset.target_column,) if self.dataset.target_column else ()

    @property
    def fields(self):
        return ["data"]

    @property
    def ignored_columns(self):
        return []

    def clean(self, frame, check):
        target = self.dataset.target_column
        if target:
            check.flag(
                target,
                (as_text(self._column(frame, target)) == "").to_numpy(),
                "is missing or empty; every row needs a target value",
            )
        good = ~check.bad
        return pd.DataFrame({"data": self._documents(frame, self.columns, good)})


VALIDATORS = {
    Dataset.Kind.INTERACTIONS: InteractionValidator,
    Dataset.Kind.ITEMS: ItemValidator,
    Dataset.Kind.USERS: EndUserValidator,
    Dataset.Kind.TABULAR: TabularValidator,
}

# Column order assumed for a file without a header when no column mapping is given.
POSITIONAL_COLUMNS = {
    Dataset.Kind.INTERACTIONS: ("user_id", "item_id", "timestamp", "event_type", "value", "event_id"),
    Dataset.Kind.ITEMS: ("item_id", "title", "categories"),
    Dataset.Kind.USERS: ("user_id",),
}


def validator_for(dataset, keys, columns, timestamp_format=None) -> RowValidator:
    validator = VALIDATORS[dataset.kind](dataset, keys, columns)
    validator.timestamp_format = timestamp_format
    return validator


def validate_batch(validator, frame, lines, column_names=None, parse_errors=()):
    """Validate one chunk; returns the clean rows and the check that holds its problems."""
    check = ChunkCheck(lines, column_names or {}, parse_errors)
    if not len(frame):
        return pd.DataFrame(), check
    frame = _without_unstorable_values(validator, frame, check)
    return validator.clean(frame, check), check


def _without_unstorable_values(validator, frame, check):
    """Reject rows with a character PostgreSQL cannot store in a column that is stored, and blank those
    characters out of the frame so the parsers downstream never meet them (the rows are rejected anyway)."""
    ignored = set(validator.ignored_columns)
    frame = frame.copy()
    for name in list(frame.columns):
        if name in ignored:
            continue
        values = frame[name]
        if UNSTORABLE.search(str(name)):
            # Only API batches get here (an import's header is refused whole): their keys name features.
            check.flag(name, values.notna().to_numpy(dtype=bool), f"is a field whose name {UNSTORABLE_REASON}")
            continue
        if is_text(values):
            if not may_hold(values, b"\x00"):
                continue
            bad = values.str.contains("\x00", regex=False).fillna(False).to_numpy(dtype=bool)
            if bad.any():
                frame[name] = values.str.replace("\x00", "\ufffd", regex=False)
        elif values.dtype == object:
            bad = values.map(_holds_unstorable).to_numpy(dtype=bool)
            if bad.any():
                frame[name] = values.map(_storable_value)
        else:
            continue
        check.flag(name, bad, UNSTORABLE_REASON)
    return frame


def _holds_unstorable(value):
    if isinstance(value, str):
        return UNSTORABLE.search(value) is not None
    if isinstance(value, bytes):  # Parquet binary columns are read as text
        return b"\x00" in value
    if isinstance(value, dict):
        return any(_holds_unstorable(key) or _holds_unstorable(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(_holds_unstorable(item) for item in value)
    return False


def _storable_value(value):
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, bytes):
        return value.replace(b"\x00", b"")
    if isinstance(value, dict):
        return {_storable_value(key): _storable_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_storable_value(item) for item in value]
    return value
