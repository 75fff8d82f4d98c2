"""Item text as hashed tokens, for the item towers (cold start from content).

Title, description and categories are lower-cased and split into word tokens;
each token goes to one of ``buckets`` rows by a stable hash (CRC-32), so no
vocabulary is stored and a catalogue in any language works. The towers learn
an embedding per bucket from the tenant's own interactions and average the
item's token embeddings (an embedding bag): an item nobody has touched yet is
placed by its words. Nothing pre-trained is downloaded. Numpy only.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # web processes import this module without pandas
    import pandas as pd

TEXT_COLUMNS = ("title", "description", "categories", "text")
# Stands in for an item without any text, so its bag is never empty.
_NO_TEXT = "\x00no-text"
_TOKEN = re.compile(r"[^\W_]+")


def text_columns(frame: pd.DataFrame | None) -> list[str]:
    """The text columns of an item frame that exist, in TEXT_COLUMNS order."""
    return [name for name in TEXT_COLUMNS if frame is not None and name in frame.columns]


def item_texts(frame: pd.DataFrame | None) -> list[str] | None:
    """One string per row joining the text columns (missing values skipped); None without any."""
    columns = text_columns(frame)
    if frame is None or not columns:
        return None
    parts = [frame[name].astype(object).where(frame[name].notna(), "").astype(str) for name in columns]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined + " " + part
    return joined.tolist()


def hashed_tokens(texts: Iterable[str], buckets: int, max_tokens: int) -> np.ndarray:
    """(n, max_tokens) int32 bucket ids in 1..buckets (0 pads), the first ``max_tokens`` distinct tokens."""
    texts = list(texts)
    out = np.zeros((len(texts), max_tokens), dtype=np.int32)
    for row, text in enumerate(texts):
        tokens = list(dict.fromkeys(_TOKEN.findall(str(text).lower()))) or [_NO_TEXT]
        for column, token in enumerate(tokens[:max_tokens]):
            out[row, column] = zlib.crc32(token.encode("utf-8")) % buckets + 1
    return out
