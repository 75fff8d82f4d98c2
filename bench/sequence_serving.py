"""Latency of the numpy sequence scorers: top-10 over a catalogue for one 50-event history.

    .venv/bin/python bench/sequence_serving.py [--items 10000] [--history 50] [--repeats 2000]

Builds a SASRec scorer (``SequenceScorer``: 64-d, 2 blocks, 2 heads,
max_history 50, random weights: latency does not depend on what was learned)
and a session_knn scorer on generated data, then times ``recommend_session``
with a 50-item history, k=10, one BLAS thread (as serving runs). Beside it, in
the same run, the bare reference: one matrix-vector product over the catalogue
plus ``np.argpartition``, the least any embedding model's top-10 costs.
Prints the median and 99th percentile in milliseconds and the ratio to the
reference. Target (issue 17): SASRec top-10 over 10,000 items < 2 ms.
"""

import argparse
import os
import sys
import time
from pathlib import Path

for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from recommender.ml.sequence import BLOCK_ARRAYS, SequenceScorer, SessionKnnScorer, ordered_histories  # noqa: E402
from recommender.ml.synthetic import generate_sequential_interactions  # noqa: E402


def timed(function, repeats):
    function()  # warm caches
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return float(np.median(samples)), float(np.percentile(samples, 99))


def sasrec_scorer(n_items, dim=64, blocks=2, heads=2, max_history=50, seed=0):
    rng = np.random.default_rng(seed)
    shapes = {"ln1_gamma": (dim,), "ln1_beta": (dim,), "ln2_gamma": (dim,), "ln2_beta": (dim,)}
    shapes.update({f"w{part}": (dim, dim) for part in "qkvo12"})
    shapes.update({f"b{part}": (dim,) for part in "qkvo12"})
    weights = [{name: rng.normal(0, 0.1, shapes[name]) for name in BLOCK_ARRAYS} for _ in range(blocks)]
    users = np.array(["u0"])
    return SequenceScorer(
        "sasrec", users, np.array([f"i{n}" for n in range(n_items)]), np.array([0, 1]), np.array([0]),
        sequence_indptr=np.array([0, 1]), sequence_indices=np.array([0]),
        item_vectors=rng.normal(0, 0.1, (n_items, dim)), position_vectors=rng.normal(0, 0.1, (max_history, dim)),
        blocks=weights, final_gamma=np.ones(dim), final_beta=np.zeros(dim), heads=heads,
    )  # fmt: skip


def knn_scorer(n_items, seed=0):
    data = generate_sequential_interactions(n_users=5000, n_items=n_items, n_clusters=50, mean_items_per_user=30,
                                            seed=seed)  # fmt: skip
    users, user_index = np.unique(data.interactions.user_id.to_numpy(), return_inverse=True)
    items, item_index = np.unique(data.interactions.item_id.to_numpy(), return_inverse=True)
    keys = np.unique(user_index.astype(np.int64) * len(items) + item_index)
    history_indptr = np.zeros(len(users) + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys // len(items), minlength=len(users)), out=history_indptr[1:])
    sequence = ordered_histories(user_index, item_index, data.interactions.timestamp.to_numpy(), len(users), 50)
    return SessionKnnScorer(
        "session_knn", users, items, history_indptr, keys % len(items), sequence_indptr=sequence[0],
        sequence_indices=sequence[1], neighbors=100, max_history=50, position_decay=True, successors=5,
    )  # fmt: skip


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--history", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=2000)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(1)
    sasrec = sasrec_scorer(args.items)
    history = [f"i{n}" for n in rng.choice(args.items, args.history, replace=False)]
    vector = rng.normal(size=sasrec.item_vectors.shape[1]).astype(np.float32)

    def bare():
        scores = sasrec.item_vectors @ vector
        return np.argpartition(-scores, 10)[:10]

    reference = timed(bare, args.repeats)
    rows = [("bare matvec + argpartition (reference)", reference)]
    rows.append(("sasrec recommend_session", timed(lambda: sasrec.recommend_session(history, 10), args.repeats)))
    rows.append(
        ("sasrec encode only (transformer)", timed(lambda: sasrec.encode(np.arange(args.history)), args.repeats))
    )
    knn = knn_scorer(args.items)
    known = list(knn.item_ids[rng.choice(knn.n_items, args.history, replace=False)])
    rows.append(("session_knn recommend_session", timed(lambda: knn.recommend_session(known, 10), args.repeats // 4)))
    print(f"# {args.items} items, {args.history}-event history, k=10, one BLAS thread, {args.repeats} repeats\n")
    print("| what | median ms | p99 ms | median / reference |")
    print("|---|---|---|---|")
    for label, (median, p99) in rows:
        print(f"| {label} | {median:.3f} | {p99:.3f} | {median / reference[0]:.1f}x |")


if __name__ == "__main__":
    main()
