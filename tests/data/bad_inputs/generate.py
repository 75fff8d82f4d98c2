"""Writes the binary and encoding-sensitive files of the bad-input corpus (run it to rebuild them).

Text files that are plainly readable live in this folder as they are; the ones
whose point is their bytes (encodings, compression, binary garbage, Parquet)
are written here so that how each was made is on record. ``manifest.json``
says what the platform does with every file.
"""

import gzip
import io
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
GOOD_CSV = "user_id,item_id,timestamp\nu1,i1,2026-01-01T00:00:00Z\nu2,i2,2026-01-02T00:00:00Z\n"


def parquet(table):
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def files():
    rng = random.Random(8)
    good_gzip = gzip.compress(GOOD_CSV.encode() * 200, mtime=0)
    yield "truncated.csv.gz", good_gzip[: len(good_gzip) // 2]
    yield "gzip_of_garbage.csv.gz", gzip.compress(bytes(rng.randrange(256) for _ in range(4096)), mtime=0)
    yield "latin1.csv", "user_id,item_id\ncafé,crème brûlée\n".encode("latin-1")
    yield "utf16.csv", "user_id,item_id\nu1,i1\nu2,i2\n".encode("utf-16")
    yield "nul_in_cell.csv", b"user_id,item_id\nu1,i\x001\nu2,i2\n"
    yield "nul_in_header.csv", b"user_id,item_id,no\x00te\nu1,i1,x\n"
    yield "items_nul_in_feature.csv", b"item_id,title,colour\ni1,Lamp,re\x00d\ni2,Desk,oak\n"
    yield "binary_garbage.csv", bytes(rng.randrange(256) for _ in range(8192))
    yield "bom_in_middle.csv", "user_id,item_id\nu1,i1\n\ufeffu2,i2\n".encode()
    yield "bom_at_start.csv", "\ufeffuser_id,item_id\nu1,i1\n".encode()
    yield "mixed_line_endings.csv", b"user_id,item_id\r\nu1,i1\nu2,i2\r\nu3,i3\n"
    yield "csv_named_parquet.parquet", GOOD_CSV.encode()
    yield "truncated.parquet", parquet(pa.table({"user_id": ["u1", "u2"], "item_id": ["i1", "i2"]}))[:-40]
    yield (
        "wrong_types.parquet",
        parquet(pa.table({"user_id": [1.5, 2.0], "item_id": [True, False], "timestamp": ["yesterday", "2026-01-01"]})),
    )
    yield "surrogate.jsonl", b'{"user_id": "u\\ud800", "item_id": "i1"}\n{"user_id": "u2", "item_id": "i2"}\n'
    yield "nul_escape.jsonl", b'{"user_id": "u1", "item_id": "i1"}\n{"user_id": "u\\u0000", "item_id": "i2"}\n'
    yield (
        "deeply_nested.jsonl",
        (
            b'{"user_id": "u1", "item_id": "i1"}\n{"user_id": "u2", "item_id": "i2", "extra": '
            + b"[" * 5_000
            + b"]" * 5_000
            + b"}\n"
        ),
    )


if __name__ == "__main__":
    for name, content in files():
        (HERE / name).write_bytes(content)
        print(f"wrote {name} ({len(content)} bytes)")
