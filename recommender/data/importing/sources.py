"""Reading uploaded files in chunks: CSV, JSON Lines and Parquet, plain or gzip-compressed.

:class:`UploadReader` resolves what the options leave open (compression from the
magic bytes, format from the name or the content, CSV delimiter and header by
sniffing) and yields :class:`~.validation.RawChunk` objects of at most a few
megabytes each, so memory does not grow with the file. Rows that cannot be
parsed at all (a CSV row with the wrong number of fields, a line that is not
JSON) come back as row errors with their line; problems with the whole file
raise :class:`~.problems.ImportFailed`.
"""

import codecs
import contextlib
import csv
import gzip
import io
import json
import os
import shutil
import tempfile
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as arrow_compute
import pyarrow.csv as arrow_csv
import pyarrow.parquet as parquet
from django.core.files.storage import default_storage

from ..limits import FeatureKeyBound, limit
from .problems import ImportFailed, RowError
from .validation import RawChunk

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
SAMPLE_BYTES = 64 * 1024
# Arrow reads CSV in blocks of the line-length limit (LINE_BYTES, 1 MiB by default: about 25,000 rows of
# interactions, small enough to keep the import's memory flat): a CSV line may not be longer than a block.
# Below this many bytes a file may decompress at any ratio: small files compress badly or very well.
RATIO_FREE_BYTES = 16 * 1024 * 1024
MAX_DEFLATE_RATIO = 1032
CHUNK_ROWS = 25_000
SNIFFED_DELIMITERS = ",;\t|"


def _use_a_pool_that_gives_memory_back():
    """Arrow's default allocator here keeps freed blocks, so an import's memory crept up with the file
    (261 MB at 1M rows, 351 MB at 5M); jemalloc returns them and stays flat. Process-wide, on purpose:
    every Arrow allocation of an import goes through it."""
    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    except NotImplementedError:  # a pyarrow built without jemalloc keeps its default
        pass


_use_a_pool_that_gives_memory_back()

EXTENSION_FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


@dataclass
class ImportOptions:
    """How to read a file; ``None`` means "work it out from the file"."""

    format: str | None = None
    delimiter: str | None = None
    has_header: bool | None = None
    column_mapping: dict = field(default_factory=dict)
    on_error: str = "fail"
    compression: str = "auto"
    timestamp_format: str | None = None

    @classmethod
    def from_dict(cls, options):
        known = {name: options[name] for name in cls.__dataclass_fields__ if options.get(name) is not None}
        return cls(**known)


@contextlib.contextmanager
def local_file(storage_name):
    """A local path for a stored upload: the file itself on disk storage, else a temporary copy."""
    try:
        yield default_storage.path(storage_name)
        return
    except NotImplementedError:
        pass
    with default_storage.open(storage_name, "rb") as stored, tempfile.NamedTemporaryFile(suffix=".upload") as copy:
        shutil.copyfileobj(stored, copy)
        copy.flush()
        yield copy.name


def _open_binary(path, compressed, *, eof_when_over=False):
    """The file's bytes, decompressed (within :class:`DecompressionBound`) when ``compressed``."""
    if not compressed:
        return open(path, "rb")  # noqa: SIM115 - callers close it
    return io.BufferedReader(DecompressionBound(path, eof_when_over=eof_when_over))


class DecompressionBound(io.RawIOBase):
    """A gzip file's decompressed bytes, up to a limit: a 26 KB gzip may hold gigabytes.

    The limit is the smaller of ``DECOMPRESSED_BYTES`` and ``DECOMPRESSION_RATIO`` × the compressed size
    (files decompressing to under ``RATIO_FREE_BYTES`` are not held to the ratio). Past it, a read raises
    :class:`ImportFailed`; with ``eof_when_over`` (for Arrow, which must not see a Python exception from a
    read) it ends the stream instead and :meth:`check` raises afterwards.
    """

    def __init__(self, path, *, eof_when_over=False):
        self._inner = gzip.open(path, "rb")
        self.compressed_size = os.path.getsize(path)
        self.most = limit("DECOMPRESSED_BYTES")
        self.ratio = limit("DECOMPRESSION_RATIO")
        self.limit = min(self.most, max(self.ratio * self.compressed_size, RATIO_FREE_BYTES))
        self.eof_when_over = eof_when_over
        self.total = 0
        self.over = False

    def readable(self):
        return True

    def readinto(self, buffer):
        if self.over:
            return self._stop()
        count = self._inner.readinto(buffer)
        self.total += count
        if self.total > self.limit:
            self.over = True
            return self._stop()
        return count

    def _stop(self):
        if self.eof_when_over:
            return 0
        raise ImportFailed(self.problem())

    def check(self):
        """Raise :class:`ImportFailed` when the stream was cut at the limit."""
        if self.over:
            raise ImportFailed(self.problem())

    def problem(self):
        if self.limit == self.most:
            why = f"the most a file may decompress to is {self.most} bytes (DECOMPRESSED_BYTES)"
        else:
            why = (
                f"a file of {self.compressed_size} compressed bytes may decompress to {self.ratio} times that "
                "(DECOMPRESSION_RATIO)"
            )
        return f"The file decompresses to more than {self.limit} bytes; {why}. Nothing was imported."

    def close(self):
        self._inner.close()
        super().close()


class UploadReader:
    """One stored upload, read in chunks whatever its format."""

    def __init__(self, path, file_name, options: ImportOptions, expected_columns=()):
        self.path = path
        self.options = options
        if not os.path.getsize(path):
            raise ImportFailed("The file is empty.")
        with open(path, "rb") as raw:
            magic = raw.read(4)
        self.compressed = options.compression == "gzip" or (options.compression == "auto" and magic[:2] == GZIP_MAGIC)
        self.head = self._read_head()
        self.format = options.format or self._format_from_name(file_name) or self._format_from_content()
        self.expected_columns = {name.lower() for name in expected_columns}
        self.has_header = True
        self.delimiter = None
        self.columns = []
        self._invalid_lines = []
        self._reported_invalid = 0

    def _read_head(self):
        try:
            with _open_binary(self.path, self.compressed) as stream:
                return stream.read(SAMPLE_BYTES)
        except EOFError as exc:
            raise ImportFailed(self._describe_broken_compression(exc)) from None
        except (OSError, zlib.error) as exc:
            raise ImportFailed(f"The file could not be decompressed as gzip: {exc}.") from None

    @staticmethod
    def _format_from_name(file_name):
        name = file_name.lower().removesuffix(".gz")
        return EXTENSION_FORMATS.get(os.path.splitext(name)[1])

    def _format_from_content(self):
        if self.head.startswith(PARQUET_MAGIC):
            return "parquet"
        if self.head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
            return "jsonl"
        return "csv"

    def estimated_rows(self):
        """``(rows, is_estimate)``: exact for Parquet, else from the size and the sample's line length;
        rows are None when the size cannot be known (a gzip file without its trailer)."""
        if self.format == "parquet":
            with self._parquet_file() as table:
                return table.metadata.num_rows, False
        lines_in_head = self.head.count(b"\n") or 1
        size = self._uncompressed_size()
        if size is None:
            return None, True
        return max(1, round(size * lines_in_head / max(len(self.head), 1))), True

    def _uncompressed_size(self):
        size = os.path.getsize(self.path)
        if not self.compressed:
            return size
        with open(self.path, "rb") as raw:  # gzip keeps the size (modulo 4 GiB) in its last four bytes
            raw.seek(-4, os.SEEK_END)
            stated = int.from_bytes(raw.read(4), "little")
        # Deflate packs at most about 1032:1; a larger size is no trailer at all (a truncated upload): unknown.
        return max(stated, size) if stated <= size * MAX_DEFLATE_RATIO else None

    def chunks(self):
        """Yield :class:`RawChunk` objects until the file ends."""
        readers = {"csv": self._csv_chunks, "jsonl": self._jsonl_chunks, "parquet": self._parquet_chunks}
        if self.format not in readers:
            raise ImportFailed(f"Unknown format '{self.format}'; use csv, jsonl or parquet.")
        try:
            yield from readers[self.format]()
        except (EOFError, OSError, zlib.error) as exc:
            if not self.compressed:
                raise
            raise ImportFailed(self._describe_broken_compression(exc)) from None

    @staticmethod
    def _describe_broken_compression(exc):
        """Why a gzip file stopped decompressing part-way, in words: most often a transfer cut short."""
        text = str(exc)
        if isinstance(exc, EOFError) or "Truncated" in text or "ended before" in text:
            return (
                "The compressed file ends early: the upload is probably truncated (an interrupted transfer). "
                "Nothing was imported; upload the whole file again."
            )
        return (
            f"The compressed file is damaged part-way ({text}), so nothing was imported. "
            "Compress the file again and upload it."
        )

    # --- CSV -------------------------------------------------------------------------------------------

    def sniff_csv(self):
        """Work out the delimiter, whether the first line is a header, and the column names."""
        sample = self.head.decode("utf-8-sig", errors="replace")
        if not sample.strip():
            raise ImportFailed("The file is empty.")
        if len(self.head) == SAMPLE_BYTES and "\n" in sample:
            sample = sample[: sample.rindex("\n") + 1]  # whole lines only
        self.delimiter = self.options.delimiter or self._sniff_delimiter(sample)
        try:
            first_row = next(csv.reader(io.StringIO(sample), delimiter=self.delimiter), [])
        except csv.Error as exc:  # e.g. a stray carriage return in binary data
            raise ImportFailed(self._describe_unreadable(f"Line 1 could not be read as CSV: {exc}.")) from None
        self.has_header = self.options.has_header
        if self.has_header is None:
            self.has_header = self._looks_like_header(first_row, sample)
        if self.has_header:
            self.columns = [name.strip() for name in first_row]
            repeated = sorted({name for name in self.columns if self.columns.count(name) > 1})
            if repeated:
                raise ImportFailed(f"The header names the column '{repeated[0]}' more than once (line 1).")
            self.columns = [name or str(position) for position, name in enumerate(self.columns, 1)]
        else:
            self.columns = [str(position) for position in range(1, len(first_row) + 1)]
        _bound_columns(len(self.columns), "line 1")

    @staticmethod
    def _sniff_delimiter(sample):
        try:
            return csv.Sniffer().sniff(sample, delimiters=SNIFFED_DELIMITERS).delimiter
        except csv.Error:
            return ","

    def _looks_like_header(self, first_row, sample):
        if {cell.strip().lower() for cell in first_row} & self.expected_columns:
            return True
        try:
            return csv.Sniffer().has_header(sample)
        except csv.Error:
            return False

    def _csv_chunks(self):
        self.sniff_csv()
        first_data_line = 2 if self.has_header else 1
        rows_before = 0
        bound = None
        try:
            if self.compressed:
                bound = DecompressionBound(self.path, eof_when_over=True)
                stream = pa.PythonFile(io.BufferedReader(bound), mode="r")
            else:
                stream = pa.input_stream(self.path)
            reader = arrow_csv.open_csv(
                stream,
                read_options=arrow_csv.ReadOptions(
                    column_names=self.columns,
                    skip_rows=1 if self.has_header else 0,
                    block_size=limit("LINE_BYTES"),
                    # Threads would lose the line numbers of the rows the handler below skips.
                    use_threads=False,
                ),
                parse_options=arrow_csv.ParseOptions(
                    delimiter=self.delimiter,
                    newlines_in_values=True,
                    ignore_empty_lines=False,
                    invalid_row_handler=self._skip_invalid_row,
                ),
                convert_options=arrow_csv.ConvertOptions(
                    column_types=dict.fromkeys(self.columns, pa.string()),
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
            for batch in reader:
                lines = self._lines_of(np.arange(rows_before, rows_before + len(batch)) + first_data_line)
                _bound_fields(batch, lines)
                frame = batch.to_pandas(types_mapper=pd.ArrowDtype)
                rows_before += len(frame)
                yield self._chunk_without_blank_rows(frame, lines)
            if bound is not None:
                bound.check()
            leftover = self._unreported_invalid_rows()
            if leftover:
                yield RawChunk(pd.DataFrame(columns=self.columns), np.array([], dtype=np.int64), leftover)
        except pa.ArrowInvalid as exc:
            if bound is not None:
                bound.check()  # a stream cut at the limit reads as broken CSV: say why it was cut
            if "UTF8" in str(exc):
                raise ImportFailed(self._describe_undecodable_line()) from None
            if "straddles" in str(exc):  # Arrow's words for a line longer than one block
                raise ImportFailed(self._describe_overlong_line()) from None
            raise ImportFailed(self._describe_unreadable(f"The file could not be read as CSV: {exc}")) from None

    def _skip_invalid_row(self, row):
        self._invalid_lines.append(
            RowError(
                row.number or 0,
                "",
                f"has {row.actual_columns} fields where {row.expected_columns} were expected "
                f"(delimiter {self.delimiter!r})",
            )
        )
        return "skip"

    def _lines_of(self, positions):
        """Line numbers of parsed rows: their position, moved past the lines skipped as invalid."""
        skipped = np.array(sorted(error.line for error in self._invalid_lines), dtype=np.int64)
        lines = positions
        while True:  # the smallest line L with L = position + (skipped lines up to L)
            moved = positions + np.searchsorted(skipped, lines, side="right")
            if np.array_equal(moved, lines):
                return lines
            lines = moved

    def _chunk_without_blank_rows(self, frame, lines):
        blank = np.ones(len(frame), dtype=bool)
        for name in frame.columns:
            blank &= (frame[name] == "").to_numpy(dtype=bool)
        if blank.any():
            frame, lines = frame.loc[~blank].reset_index(drop=True), lines[~blank]
        return RawChunk(frame, lines, self._unreported_invalid_rows())

    def _unreported_invalid_rows(self):
        fresh = self._invalid_lines[self._reported_invalid :]
        self._reported_invalid = len(self._invalid_lines)
        return fresh

    def _describe_overlong_line(self):
        """Which line is longer than a block: read in bounded pieces, so the long line is never held whole."""
        most = limit("LINE_BYTES")
        with _open_binary(self.path, self.compressed) as stream:
            number = 0
            while piece := stream.readline(most + 1):
                number += 1
                if len(piece) > most:
                    return (
                        f"Line {number} is longer than {most} bytes (LINE_BYTES); a CSV line may not be. "
                        "Is a quote left open, or is the delimiter a character the file does not use?"
                    )
        return f"A line of the file is longer than {most} bytes (LINE_BYTES); a CSV line may not be."

    def _describe_unreadable(self, otherwise):
        """Why a file is not CSV: binary data (bytes that are not UTF-8 early on) says so, else ``otherwise``."""
        try:
            # Incremental, so a character cut at the end of the sample is not taken for bad bytes.
            codecs.getincrementaldecoder("utf-8-sig")().decode(self.head, final=False)
        except UnicodeDecodeError:
            return self._describe_undecodable_line()
        return otherwise

    def _describe_undecodable_line(self):
        with _open_binary(self.path, self.compressed) as stream:
            for number, line in enumerate(_bounded_lines(stream), 1):
                try:
                    line.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError as exc:
                    return (
                        f"Line {number} is not valid UTF-8 text (byte {exc.start + 1} of the line). "
                        "Save the file as UTF-8 and upload it again."
                    )
        return "The file is not valid UTF-8 text. Save it as UTF-8 and upload it again."

    # --- JSON Lines ----------------------------------------------------------------------------------

    def _jsonl_chunks(self):
        records, lines, errors = [], [], []
        # The file's distinct keys are bounded as lines are read: the frames cost rows × keys.
        keys = FeatureKeyBound("file")
        with _open_binary(self.path, self.compressed) as stream:
            for number, raw_line in enumerate(_bounded_lines(stream), 1):
                record, error = self._json_record(number, raw_line)
                if error is not None:
                    errors.append(error)
                elif record is not None:
                    if problem := keys.problem(record, f"Line {number}"):
                        raise ImportFailed(problem)
                    _bound_record_fields(record, number)
                    records.append(record)
                    lines.append(number)
                if len(records) >= CHUNK_ROWS:
                    yield self._json_chunk(records, lines, errors)
                    records, lines, errors = [], [], []
        if records or errors:
            yield self._json_chunk(records, lines, errors)

    @staticmethod
    def _json_record(number, raw_line):
        try:
            text = raw_line.decode("utf-8-sig" if number == 1 else "utf-8").strip()
        except UnicodeDecodeError as exc:
            return None, RowError(number, "", f"is not valid UTF-8 text (byte {exc.start + 1} of the line)")
        if not text:
            return None, None
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            return None, RowError(number, "", f"is not valid JSON: {exc.msg} at character {exc.colno}")
        except RecursionError:
            return None, RowError(number, "", "nests arrays or objects too deeply to be read")
        if not isinstance(record, dict):
            return None, RowError(number, "", "is not a JSON object; each line must hold one object")
        return record, None

    @staticmethod
    def _json_chunk(records, lines, errors):
        # An explicit index keeps lines of empty objects as rows (to be rejected), not an empty frame.
        frame = pd.DataFrame.from_records(records, index=pd.RangeIndex(len(records))) if records else pd.DataFrame()
        return RawChunk(frame.astype(object), np.array(lines, dtype=np.int64), list(errors))

    # --- Parquet -------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _parquet_file(self):
        try:
            if not self.compressed:
                yield parquet.ParquetFile(self.path)
                return
            # The copy is as large as the decompressed file: DecompressionBound bounds it.
            with tempfile.TemporaryFile() as plain, _open_binary(self.path, compressed=True) as packed:
                shutil.copyfileobj(packed, plain)
                plain.seek(0)
                yield parquet.ParquetFile(plain)
        except (pa.ArrowException, OSError) as exc:
            raise ImportFailed(f"The file is not a readable Parquet file: {exc}") from None

    def _parquet_chunks(self):
        with self._parquet_file() as table:
            self.columns = list(table.schema_arrow.names)
            _bound_columns(len(self.columns), "the Parquet schema")
            rows_before = 0
            for batch in table.iter_batches(batch_size=CHUNK_ROWS):
                _bound_fields(batch, np.arange(rows_before + 1, rows_before + len(batch) + 1))
                frame = batch.to_pandas()
                yield RawChunk(frame, np.arange(rows_before + 1, rows_before + len(frame) + 1))
                rows_before += len(frame)


def _bound_columns(count, where):
    """A file's columns are its feature keys: the same bound as for JSON records."""
    most = limit("FEATURE_KEYS")
    if count > most:
        raise ImportFailed(
            f"The file has {count} columns ({where}); a file may have at most {most} (FEATURE_KEYS). "
            "Leave out the columns the platform does not need."
        )


def _bounded_lines(stream):
    """The stream's lines, each read at most ``LINE_BYTES`` + 1 at a time: a line is never held whole
    when it is longer than the limit (one 800 MB line took a worker to 2.8 GB)."""
    most = limit("LINE_BYTES")
    number = 0
    while line := stream.readline(most + 1):
        number += 1
        if len(line) > most:
            raise ImportFailed(
                f"Line {number} is longer than {most} bytes, the most a line may hold (LINE_BYTES). Nothing was "
                "imported."
            )
        yield line


def _field_problem(line, column, size):
    return (
        f"Line {line}, column '{column}': a value of {size} bytes; a value may hold at most "
        f"{limit('FIELD_BYTES')} bytes (FIELD_BYTES). Nothing was imported."
    )


def _bound_fields(batch, lines):
    """Fail on the first text value over ``FIELD_BYTES`` in an Arrow batch (Arrow measures, no copy)."""
    most = limit("FIELD_BYTES")
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if not (pa.types.is_string(column.type) or pa.types.is_binary(column.type)) or not len(column):
            continue
        sizes = arrow_compute.binary_length(column)
        if (arrow_compute.max(sizes).as_py() or 0) > most:
            position = int(np.argmax(sizes.to_numpy(zero_copy_only=False) > most))
            raise ImportFailed(_field_problem(lines[position], name, sizes[position].as_py()))


def _bound_record_fields(record, line):
    """Fail on the first text value over ``FIELD_BYTES`` in a JSON record (its nested features included)."""
    most = limit("FIELD_BYTES")
    nested = record.get("features")
    values = [*record.items(), *(nested.items() if isinstance(nested, dict) else ())]
    for name, value in values:
        if isinstance(value, str) and len(value) > most // 4 and len(value.encode()) > most:
            raise ImportFailed(_field_problem(line, name, len(value.encode())))
