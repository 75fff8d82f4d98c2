"""Column-at-a-time parsing of incoming values: text, numbers, timestamps, booleans, features.

Every parser takes a pandas Series of whatever a reader produced (Arrow strings
from CSV, Python objects from JSON Lines, typed columns from Parquet) and
returns the parsed values with a mask of the ones that could not be parsed.
"""

import json
import math
from datetime import date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

TEXT = pd.ArrowDtype(pa.string())

# Unix times at or above this are milliseconds: 1e11 seconds is the year 5138, 1e11 ms is 1973.
MILLISECONDS_FROM = 1e11
# Accepted timestamps, as Unix seconds: 1900-01-01 up to (not including) 2200-01-01.
EARLIEST_TIMESTAMP = -2208988800.0
LATEST_TIMESTAMP = 7258118400.0

# Text Arrow turns into numbers itself (fast, correctly rounded); anything else is left to pandas, as before.
PLAIN_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"

TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0"})


def _scalar_text(value):
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else repr(float(value))
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, datetime | date | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def is_text(series: pd.Series) -> bool:
    dtype = series.dtype
    return isinstance(dtype, pd.ArrowDtype) and (
        pa.types.is_string(dtype.pyarrow_dtype) or pa.types.is_large_string(dtype.pyarrow_dtype)
    )


def may_hold(series: pd.Series, characters: bytes) -> bool:
    """False when the text surely holds none of the ASCII ``characters``: one scan of Arrow's bytes, so
    the per-row searches for rare characters run only on the chunks that hold them."""
    if not is_text(series):
        return True
    array = pa.array(series)
    wanted = np.frombuffer(characters, dtype=np.uint8)
    for chunk in array.chunks if isinstance(array, pa.ChunkedArray) else [array]:
        offset_type = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        offsets = np.frombuffer(chunk.buffers()[1], dtype=offset_type)[chunk.offset : chunk.offset + len(chunk) + 1]
        data = chunk.buffers()[2]
        if data is None or not len(chunk):
            continue
        used = np.frombuffer(data, dtype=np.uint8)[offsets[0] : offsets[-1]]
        if np.isin(used, wanted).any():
            return True
    return False


def as_text(series: pd.Series) -> pd.Series:
    """The values as stripped strings; missing values become the empty string."""
    text = series if is_text(series) else series.map(_scalar_text, na_action="ignore").astype(TEXT)
    return text.fillna("").str.strip()


def numbers_in_text(text: pd.Series) -> np.ndarray:
    """Floats of stripped text (from ``as_text``): NaN where the text is empty or not a number."""
    strings = pa.array(text)
    plain = pc.match_substring_regex(strings, PLAIN_NUMBER)
    numbers = pc.if_else(plain, strings, pa.scalar(None, strings.type)).cast(pa.float64())
    values = numbers.to_numpy(zero_copy_only=False).astype("float64", copy=True)
    # pandas still judges the rest ("inf", "1_000", Unicode digits...), so those read as they always did.
    others = ~plain.to_numpy(zero_copy_only=False) & (text != "").to_numpy(dtype=bool)
    if others.any():
        values[others] = pd.to_numeric(text[others], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return values


def parse_numbers(series: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Floats (NaN where empty) and a mask of the values that are present but not finite numbers."""
    if pd.api.types.is_numeric_dtype(series) and not isinstance(series.dtype, pd.ArrowDtype):
        numbers = series.astype("float64")
        return numbers, np.isinf(numbers.to_numpy())
    text = as_text(series)
    present = (text != "").to_numpy(dtype=bool)
    values = numbers_in_text(text)
    bad = present & ~np.isfinite(values)
    return pd.Series(np.where(bad, np.nan, values), index=series.index), bad


# What ``timestamp_format`` may say besides a strftime pattern: the order of day and month in dates such as
# 01/08/2026 00:08, as spreadsheets write them (the separator and the time of day may vary).
DATE_ORDERS = {"dayfirst": True, "monthfirst": False}


def _parse_moments(words: pd.Series, timestamp_format: str | None) -> pd.Series:
    """Moments (NaT where unreadable, UTC where no zone is given) of text in ISO 8601 or ``timestamp_format``."""
    if timestamp_format in DATE_ORDERS:
        return pd.to_datetime(words, format="mixed", dayfirst=DATE_ORDERS[timestamp_format], utc=True, errors="coerce")
    return pd.to_datetime(words, format=timestamp_format or "ISO8601", utc=True, errors="coerce")


def suggest_timestamp_format(values) -> str | None:
    """The ``timestamp_format`` that reads every one of ``values`` (a sample of text that failed), or None.

    When both day-first and month-first read them (01/08/2026 is 1 August or 8 January), both are named.
    """
    words = pd.Series([str(value).strip() for value in values if str(value).strip()], dtype=object)
    if words.empty:
        return None
    readable = [name for name in DATE_ORDERS if _parse_moments(words, name).notna().all()]
    if not readable:
        return None
    example = words.iloc[0]
    if len(readable) == 2:
        day_first, month_first = (_parse_moments(words.iloc[:1], name).iloc[0] for name in DATE_ORDERS)
        return (
            f"timestamp_format=dayfirst reads them ('{example}' is {day_first:%d %B %Y}), or "
            f"timestamp_format=monthfirst ('{example}' is {month_first:%d %B %Y})"
        )
    moment = _parse_moments(words.iloc[:1], readable[0]).iloc[0]
    return f"timestamp_format={readable[0]} reads them ('{example}' is {moment:%d %B %Y})"


def parse_timestamps(series: pd.Series, timestamp_format: str | None = None) -> tuple[pd.Series, np.ndarray]:
    """Unix seconds (NaN where empty) from ISO 8601 text, Unix seconds or Unix milliseconds.

    Numbers are told apart by magnitude (see ``MILLISECONDS_FROM``); ISO 8601 text
    without a zone is taken as UTC. The mask flags values that are present but are
    not a timestamp, or fall outside 1900–2200 (which catches microseconds too).
    ``timestamp_format`` (a strftime pattern, ``dayfirst`` or ``monthfirst``) reads
    text in that form instead of ISO 8601.
    """
    if pd.api.types.is_datetime64_any_dtype(series):
        moments = pd.to_datetime(series, utc=True)
        seconds = moments.astype("int64").astype("float64") / 1e9
        seconds = seconds.where(moments.notna())
        return _in_range(seconds.to_numpy(dtype="float64", na_value=np.nan), np.zeros(len(series), bool), series)
    text = as_text(series)
    present = (text != "").to_numpy(dtype=bool)
    numbers = numbers_in_text(text)
    seconds = np.where(np.abs(numbers) >= MILLISECONDS_FROM, numbers / 1000.0, numbers)
    needs_parsing = present & np.isnan(numbers)
    if needs_parsing.any():
        words = text[needs_parsing].astype(object)
        moments = _parse_moments(words, timestamp_format)
        parsed = (moments.astype("int64").astype("float64") / 1e9).where(moments.notna())
        seconds[needs_parsing] = parsed.to_numpy(dtype="float64", na_value=np.nan)
    return _in_range(seconds, present & np.isnan(seconds), series)


def _in_range(seconds, bad, series):
    with np.errstate(invalid="ignore"):
        outside = ~np.isnan(seconds) & ((seconds < EARLIEST_TIMESTAMP) | (seconds >= LATEST_TIMESTAMP))
    bad = bad | outside
    return pd.Series(np.where(bad, np.nan, seconds), index=series.index), bad


def parse_booleans(series: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """True/False (None where empty) from true/false, yes/no, 1/0 and their like."""
    if pd.api.types.is_bool_dtype(series):
        return series.astype(object), np.zeros(len(series), bool)
    words = as_text(series).str.lower().astype(object)
    values = words.map(lambda word: True if word in TRUE_WORDS else False if word in FALSE_WORDS else None)
    bad = ((words != "") & values.isna()).to_numpy(dtype=bool)
    return values, bad


def typed_values(series: pd.Series) -> pd.Series:
    """Feature values as JSON-ready Python objects: numbers where the text is a number, else the text.

    Empty text becomes None; values that are already numbers, lists or objects are kept.
    """
    values = series.astype(object).where(series.notna(), None)
    text_mask = values.map(lambda value: isinstance(value, str))
    if not text_mask.any():
        return values.map(_json_ready)
    text = values[text_mask].str.strip()
    numbers = pd.to_numeric(text.where(text != ""), errors="coerce")
    finite = numbers.notna() & np.isfinite(numbers.astype("float64"))
    converted = numbers[finite]
    if len(converted) and (converted % 1 == 0).all():
        converted = converted.astype("int64")
    result = values.map(_json_ready)
    result[text.index[(text == "").to_numpy()]] = None
    result[converted.index] = converted.astype(object)
    return result


def _json_ready(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime | date | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.ndarray):
        return [_json_ready(item) for item in value.tolist()]
    return value


def parse_category_lists(series: pd.Series) -> list[list[str]]:
    """Each value as a list of category names: a list as it is, or text split on '|'."""
    return [_categories(value) for value in series.astype(object)]


def _categories(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, list | tuple | np.ndarray):
        names = [_scalar_text(name) or "" for name in value]
    else:
        names = (_scalar_text(value) or "").split("|")
    return list(dict.fromkeys(name.strip() for name in names if name and name.strip()))
