"""Checks of dataset and import requests, shared by the API's serializers and the portal's forms.

Each raises :class:`core.errors.InvalidInput` naming the field, so both say the same about what they refuse.
"""

from typing import Any

from core.errors import InvalidInput

from .importing.problems import UNSTORABLE, UNSTORABLE_REASON
from .models import Dataset, ImportJob

DELIMITER_WORDS = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
COMPRESSIONS = ("auto", "gzip", "none")


def check_target_column(*, kind: str, target_column: str) -> None:
    """A tabular dataset names the column to predict; no other kind has one."""
    tabular = kind == Dataset.Kind.TABULAR
    if tabular and not target_column:
        raise InvalidInput.for_fields({"target_column": "A tabular dataset needs the column to predict."})
    if not tabular and target_column:
        raise InvalidInput.for_fields({"target_column": "Only tabular datasets have a target column."})


def clean_delimiter(value: str) -> str:
    """One character, or a word for one (``tab``, ``comma``…); never a quote or a line break."""
    value = DELIMITER_WORDS.get(value.lower(), value)
    if len(value) != 1 or value in '"\r\n':
        raise InvalidInput.for_fields(
            {"delimiter": "Use one character (or 'tab'); quotes and line breaks cannot delimit."}
        )
    return value


def clean_timestamp_format(value: str) -> str:
    """``dayfirst``, ``monthfirst`` or a strftime pattern."""
    if value not in ("dayfirst", "monthfirst") and "%" not in value:
        raise InvalidInput.for_fields(
            {"timestamp_format": "Use 'dayfirst', 'monthfirst' or a strftime pattern such as '%d/%m/%Y %H:%M'."}
        )
    return value


def clean_column_mapping(value: Any) -> dict[str, str]:
    """File column → platform column: names that can be stored, no platform column mapped twice."""
    if not isinstance(value, dict) or not all(
        isinstance(key, str) and isinstance(target, str) and target for key, target in value.items()
    ):
        raise InvalidInput.for_fields({"column_mapping": 'Send an object of column names, e.g. {"userId": "user_id"}.'})
    if any(UNSTORABLE.search(name) for pair in value.items() for name in pair):
        raise InvalidInput.for_fields({"column_mapping": f"A column name {UNSTORABLE_REASON}."})
    repeated = sorted({target for target in value.values() if list(value.values()).count(target) > 1})
    if repeated:
        raise InvalidInput.for_fields({"column_mapping": f"Two file columns are mapped to '{repeated[0]}'."})
    return value


def import_options(
    *,
    format: str | None = None,
    delimiter: str | None = None,
    has_header: bool | None = None,
    column_mapping: dict[str, str] | None = None,
    on_error: str = ImportJob.OnError.FAIL,
    compression: str = "auto",
    timestamp_format: str | None = None,
) -> dict[str, Any]:
    """The options stored with an import job: what was given, checked, with the defaults of the rest
    (``on_error`` fails the import on a bad row, compression is detected); ``None`` means "detect it"."""
    options = {
        "format": format,
        "delimiter": clean_delimiter(delimiter) if delimiter is not None else None,
        "has_header": has_header,
        "column_mapping": clean_column_mapping(column_mapping) if column_mapping is not None else None,
        "on_error": on_error,
        "compression": compression,
        "timestamp_format": clean_timestamp_format(timestamp_format) if timestamp_format is not None else None,
    }
    return {name: value for name, value in options.items() if value is not None}
