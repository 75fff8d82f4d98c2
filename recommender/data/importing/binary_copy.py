"""PostgreSQL's binary ``COPY`` format, built a column at a time with Arrow: no Python loop over rows.

Binary rows spare the server the parsing of text: a timestamp arrives as the
64-bit integer it stores instead of text to parse, which halves the server's
work on interactions. Each row is a field count, then each field as its length
(-1 for NULL) and its bytes in network order; see "COPY: Binary Format" in the
PostgreSQL manual.
"""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, no header extension
TRAILER = b"\xff\xff"
NULL = b"\xff\xff\xff\xff"
# PostgreSQL counts time in microseconds from 2000-01-01 UTC.
POSTGRES_EPOCH = 946_684_800.0


def row_count_field(count: int) -> bytes:
    return count.to_bytes(2, "big")


def bigint_field(value: int) -> bytes:
    return (8).to_bytes(4, "big") + value.to_bytes(8, "big", signed=True)


def timestamptz_field(seconds: float) -> bytes:
    return bigint_field(_microseconds(np.array([seconds]))[0].item())


def _microseconds(seconds: np.ndarray) -> np.ndarray:
    # As PostgreSQL's to_timestamp(): epoch moved first, then rounded to the microsecond.
    return np.rint((seconds - POSTGRES_EPOCH) * 1e6).astype(np.int64)


def _eight_byte_fields(values: np.ndarray, missing: np.ndarray) -> pa.Array:
    """Each value as length 8 and its big-endian bytes; NULL where ``missing``."""
    fields = np.empty(len(values), dtype=[("length", ">i4"), ("value", values.dtype.newbyteorder(">"))])
    fields["length"] = 8
    fields["value"] = values
    packed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(12), len(values), [None, pa.py_buffer(fields)])
    packed = packed.cast(pa.binary())
    if missing.any():
        return pc.if_else(pa.array(missing), pa.scalar(NULL, pa.binary()), packed)
    return packed


def timestamptz_fields(seconds: np.ndarray) -> pa.Array:
    """Unix seconds (NaN for none) as ``timestamptz`` fields."""
    missing = np.isnan(seconds)
    return _eight_byte_fields(_microseconds(np.where(missing, 0.0, seconds)), missing)


def float8_fields(values: np.ndarray) -> pa.Array:
    """Floats (NaN for none) as ``float8`` fields."""
    missing = np.isnan(values)
    return _eight_byte_fields(np.where(missing, 0.0, values), missing)


def text_fields(texts: pa.Array) -> pa.Array:
    """UTF-8 strings (no NULLs) as ``text``/``varchar`` fields."""
    texts = texts.cast(pa.binary())
    lengths = pc.binary_length(texts).to_numpy(zero_copy_only=False).astype(">i4")
    prefixes = pa.FixedSizeBinaryArray.from_buffers(pa.binary(4), len(texts), [None, pa.py_buffer(lengths)])
    return pc.binary_join_element_wise(prefixes.cast(pa.binary()), texts, b"")


def rows(prefix: bytes, fields: list[pa.Array]) -> bytes:
    """The rows of ``fields`` (one array per column), each row led by ``prefix`` (its field count and any
    fields that are the same on every row)."""
    joined = pc.binary_join_element_wise(pa.scalar(prefix, pa.binary()), *fields, b"")
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int32, count=len(joined) + 1, offset=joined.offset * 4)
    return joined.buffers()[2][offsets[0] : offsets[-1]].to_pybytes()
