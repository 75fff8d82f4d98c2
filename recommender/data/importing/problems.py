"""What goes wrong in incoming data: whole-file failures and bad rows, with line, column and reason."""

import re
from dataclasses import dataclass

import numpy as np

ERRORS_KEPT = 100
SHOWN_VALUE_LENGTH = 40
# Characters PostgreSQL cannot store: NUL in text and JSON, and lone UTF-16 surrogates (JSON's "\ud800"),
# which UTF-8 cannot encode. A message or report that quoted one could not be saved on the job itself.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_REASON = "holds a character that cannot be stored (a NUL byte or half of a UTF-16 surrogate pair)"


def storable(text: str) -> str:
    """``text`` with every character PostgreSQL cannot store replaced by U+FFFD."""
    return UNSTORABLE.sub("\ufffd", text)


class ImportFailed(Exception):
    """A problem with the whole file (or the import as a whole), with a message for a person."""

    def __init__(self, message):
        # The message is saved on the job: it may quote the file, so make it storable here, once.
        super().__init__(storable(str(message)))


@dataclass(frozen=True)
class RowError:
    """One problem in one row. ``line`` is the row's line in the file (its index for API batches)."""

    line: int
    column: str
    reason: str

    def as_dict(self):
        return {"line": self.line, "column": storable(self.column), "reason": storable(self.reason)}


def shown(value) -> str:
    """A value quoted for an error message, shortened so one bad cell cannot flood the report."""
    text = storable(str(value))
    if len(text) > SHOWN_VALUE_LENGTH:
        text = text[: SHOWN_VALUE_LENGTH - 1] + "…"
    return f"'{text}'"


class ChunkCheck:
    """The problems found in one chunk of rows, column by column, and which rows they reject."""

    def __init__(self, lines: np.ndarray, column_names: dict, parse_errors=()):
        self.lines = lines
        self.column_names = column_names
        self.bad = np.zeros(len(lines), dtype=bool)
        self.parse_errors = list(parse_errors)
        self._flags = []

    def flag(self, column, mask, reason, values=None):
        """Reject the rows in ``mask``; ``reason`` is a text or a function of the bad value."""
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            self.bad |= mask
            self._flags.append((column, mask, reason, values))

    @property
    def problem_count(self) -> int:
        return len(self.parse_errors) + sum(int(mask.sum()) for _, mask, _, _ in self._flags)

    @property
    def rejected_count(self) -> int:
        return len(self.parse_errors) + int(self.bad.sum())

    def errors(self, limit=None) -> list[RowError]:
        """The problems in line order, at most ``limit`` of them (all when None)."""
        found = list(self.parse_errors)
        for column, mask, reason, values in self._flags:
            positions = np.flatnonzero(mask)
            if limit is not None:
                positions = positions[:limit]
            name = self.column_names.get(column, column)
            for position in positions:
                text = reason(values.iloc[position]) if callable(reason) else reason
                found.append(RowError(int(self.lines[position]), name, text))
        found.sort(key=lambda error: error.line)
        return found if limit is None else found[:limit]


class ErrorReport:
    """The bad rows of a whole import: the first ``ERRORS_KEPT`` problems kept, all of them counted."""

    def __init__(self, limit=ERRORS_KEPT):
        self.limit = limit
        self.kept: list[RowError] = []
        self.error_count = 0
        self.rows_rejected = 0

    def add(self, check: ChunkCheck):
        room = self.limit - len(self.kept)
        if room > 0:
            self.kept.extend(check.errors(room))
        self.error_count += check.problem_count
        self.rows_rejected += check.rejected_count

    def as_list(self):
        return [error.as_dict() for error in self.kept]
