"""Approximate nearest-neighbour retrieval of items by inner product, for embedding scorers.

Scorers that rank items by a query vector times the item matrix (``two_tower``,
``sasrec``) scan the whole catalogue per request in exact search. Above
``min_items`` items (the ``ANN_MIN_ITEMS`` setting) ``save_artifact`` builds an
:class:`ItemIndex` over the item vectors at training time and saves it in the
artifact; ``load_scorer`` maps it read-only from the file, so every web process
on a machine shares one copy in the page cache.

The index is faiss' IVF-Flat with inner product: k-means cells over the
vectors, each item stored once, in full, in its cell's list; a query scans the
``nprobe`` cells nearest to it. IVF-Flat is the kind faiss maps without copying
(``IO_FLAG_MMAP_IFC``), where an HNSW graph is read into private memory, and
its memory is the vectors plus 8 bytes an item. ``nprobe`` is calibrated at build
time on the model's own vectors: the smallest that reaches ``target_recall``
of exact search's top 10 on a sample of queries (docs/benchmarks.md, "ANN").

The index only proposes candidates: scorers re-score them exactly, drop
excluded and filtered items, and fall back to exact search when too few
remain. faiss is imported only where an index is built or loaded.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

INDEX_FILE = "items.faiss"
# Catalogue size from which the index is built: below it exact search over
# every item takes a few milliseconds (docs/benchmarks.md), so the index would
# only cost build time and a small loss of recall.
DEFAULT_MIN_ITEMS = 50_000
# Share of exact search's top 10 the calibrated index must find.
TARGET_RECALL = 0.97
# Candidates fetched per result wanted: excluded or filtered ones are dropped afterwards.
OVERFETCH = 4
# Queries the calibration compares with exact search.
_CALIBRATION_QUERIES = 256
_CALIBRATION_K = 10
# k-means trains on at most this many points per cell (faiss warns below 39).
_POINTS_PER_CELL = 64


def _faiss() -> Any:
    import faiss  # noqa: PLC0415 - web processes without an indexed model never pay for it

    return faiss


def cell_count(n_items: int) -> int:
    """Cells of the inverted file: about 4√n (faiss' guideline), so a cell holds about √n/4 items."""
    return int(min(max(4 * math.sqrt(n_items), 16), 65_536, max(n_items // _POINTS_PER_CELL, 1)))


@dataclass
class ItemIndex:
    """An IVF-Flat inner-product index over a scorer's item vectors (positions are item positions)."""

    index: Any  # faiss.IndexIVFFlat (faiss ships no type information)
    nprobe: int
    recall: float  # measured at build time against exact search, on the calibration queries

    @property
    def n_items(self) -> int:
        return int(self.index.ntotal)

    @property
    def nlist(self) -> int:
        return int(self.index.nlist)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Positions of up to ``k`` items with the largest inner product with ``query`` (approximately), best
        first, and those inner products: IVF-Flat computes them exactly, so callers need not read the vectors."""
        k = max(1, min(int(k), self.n_items))
        queries = np.ascontiguousarray(np.asarray(query, dtype=np.float32).reshape(1, -1))
        params = _faiss().SearchParametersIVF(nprobe=self.nprobe)
        products, found = self.index.search(queries, k, params=params)
        valid = found[0] >= 0
        return found[0][valid], products[0][valid]

    def save(self, path: str | os.PathLike[str]) -> None:
        _faiss().write_index(self.index, os.fspath(path))

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, nprobe: int, recall: float) -> ItemIndex:
        """Map the index file read-only (no copy: processes share the pages) and search with ``nprobe``."""
        faiss = _faiss()
        index = faiss.read_index(os.fspath(path), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)
        return cls(index=index, nprobe=int(nprobe), recall=float(recall))

    def describe(self) -> dict:
        """What the artifact's manifest records about the index."""
        return {"kind": "ivf_flat_ip", "nlist": self.nlist, "nprobe": self.nprobe, "recall_at_10": self.recall}


def build_index(
    vectors: np.ndarray, *, queries: np.ndarray | None = None, target_recall: float = TARGET_RECALL, seed: int = 0
) -> ItemIndex:
    """Build an IVF-Flat inner-product index over ``vectors`` (one row per item) and calibrate its ``nprobe``.

    ``queries`` are vectors like the ones the index will be asked (users'); a
    sample of them and of the items is compared with exact search.
    """
    faiss = _faiss()
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n_items, dim = vectors.shape
    nlist = cell_count(n_items)
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = int(seed)
    index.cp.max_points_per_centroid = _POINTS_PER_CELL
    index.train(vectors)
    index.add(vectors)
    sample = _calibration_queries(vectors, queries, seed)
    nprobe, recall = _calibrate(index, vectors, sample, target_recall)
    return ItemIndex(index=index, nprobe=nprobe, recall=recall)


def _calibration_queries(vectors: np.ndarray, queries: np.ndarray | None, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pools = [vectors] if queries is None or len(queries) == 0 else [vectors, np.asarray(queries, np.float32)]
    share = _CALIBRATION_QUERIES // len(pools)
    picked = [pool[rng.choice(len(pool), size=min(share, len(pool)), replace=False)] for pool in pools]
    return np.ascontiguousarray(np.concatenate(picked), dtype=np.float32)


def exact_top_k(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Exact top ``k`` positions by inner product for each query (rows), best first; blocks keep memory bounded."""
    results = []
    for start in range(0, len(queries), 64):
        scores = queries[start : start + 64] @ vectors.T
        best = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, best, axis=1), axis=1, kind="stable")
        results.append(np.take_along_axis(best, order, axis=1))
    return np.concatenate(results)


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of each row of ``truth`` that the same row of ``found`` holds."""
    hits = sum(len(np.intersect1d(row_found, row_truth)) for row_found, row_truth in zip(found, truth, strict=True))
    return hits / truth.size


def _calibrate(index: Any, vectors: np.ndarray, queries: np.ndarray, target_recall: float) -> tuple[int, float]:
    """The smallest power-of-two ``nprobe`` whose recall@10 on ``queries`` reaches ``target_recall``."""
    faiss = _faiss()
    k = min(_CALIBRATION_K, len(vectors))
    truth = exact_top_k(vectors, queries, k)
    nprobe, recall = 1, 0.0
    while True:
        _, found = index.search(queries, k, params=faiss.SearchParametersIVF(nprobe=nprobe))
        recall = recall_at_k(found, truth)
        if recall >= target_recall or nprobe >= index.nlist:
            return nprobe, recall
        nprobe = min(nprobe * 2, index.nlist)
