"""Approximate nearest-neighbour retrieval against exact search, at 100k and 1M items.

For each catalogue size: clustered unit embeddings (dim 64, as two_tower makes),
an EmbeddingScorer saved with its index (``save_artifact``, index build timed),
then two fresh processes that load it as a web worker would (Django set up,
serving modules imported, ``load_scorer``) and answer the same users' top 10
through the index and by exact search (the same scorer with its index
detached: the bare reference, measured in the same run). Reported: recall@10 of
the index against exact search, p50/p99 per request and their ratio, similar
items likewise, build seconds, each worker's RSS and PSS (from
/proc/self/smaps_rollup) while both hold the model, and the slope of log time
against log items between the sizes.

    .venv/bin/python bench/ann.py                 # 100k and 1M items (about 10 minutes on 2 cores)
    .venv/bin/python bench/ann.py --items 100000  # one size
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DIM = 64
USERS = 20_000
WORKERS = 2
# Per-coordinate noise around the cluster centres (unit vectors): a point sits about 0.8 from its centre.
NOISE = 0.1


def unit(rows):
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def build(n_items: int, folder: Path, seed: int) -> dict:
    """Generate the model, save it with its index; returns build facts."""
    from recommender.ml import save_artifact
    from recommender.ml.recipes import get_recipe
    from recommender.ml.scorers import EmbeddingScorer
    from recommender.ml.training import TrainedModel

    rng = np.random.default_rng(seed)
    clusters = max(n_items // 200, 10)
    centres = unit(rng.standard_normal((clusters, DIM)))
    items = np.empty((n_items, DIM), np.float32)
    for start in range(0, n_items, 100_000):  # in blocks: the float64 noise would double the peak
        part = slice(start, min(start + 100_000, n_items))
        noise = rng.standard_normal((part.stop - part.start, DIM), dtype=np.float32)
        items[part] = unit(centres[rng.integers(0, clusters, part.stop - part.start)] + NOISE * noise)
    users = unit(centres[rng.integers(0, clusters, USERS)] + NOISE * rng.standard_normal((USERS, DIM)))
    history = rng.integers(0, n_items, USERS * 10).astype(np.int32)
    scorer = EmbeddingScorer(
        "two_tower",
        np.array([f"u{n}" for n in range(USERS)]),
        np.array([f"i{n}" for n in range(n_items)]),
        np.arange(0, USERS * 10 + 1, 10),
        history,
        users,
        items,
    )
    trained = TrainedModel(recipe=get_recipe("two_tower"), params={}, history=[], snapshot={}, scorer=scorer)
    started = time.perf_counter()
    save_artifact(trained, folder, ann_min_items=0)
    seconds = time.perf_counter() - started
    manifest = json.loads((folder / "manifest.json").read_text())
    files = {name: facts["bytes"] for name, facts in manifest["files"].items()}
    return {"build_s": seconds, "index": manifest["ann_index"], "files_mb": {k: v / 2**20 for k, v in files.items()}}


def memory() -> dict:
    facts = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        name, value, *_ = line.split()
        facts[name.rstrip(":")] = int(value) / 1024
    return {"rss_mb": facts["Rss"], "pss_mb": facts["Pss"]}


def percentiles(seconds: list[float]) -> dict:
    ms = np.array(seconds) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def worker(folder: str, queries: int, exact_queries: int) -> None:
    """One web-worker-like process: load, answer, report memory when told (both workers hold the model then)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saas_platform.settings")
    import django

    django.setup()
    import recommender.serving.services  # noqa: F401 - what a web worker has imported
    from recommender.ml import load_scorer

    baseline = memory()
    started = time.perf_counter()
    scorer = load_scorer(folder)
    load_s = time.perf_counter() - started
    print("loaded", flush=True)
    sys.stdin.readline()  # workers take turns: one sequential client at a time
    users = [f"u{n}" for n in range(0, USERS, max(USERS // queries, 1))][:queries]
    items = [f"i{n}" for n in range(0, scorer.n_items, max(scorer.n_items // queries, 1))][:queries]

    def timed(call, keys):
        times, answers = [], []
        for key in keys:
            begun = time.perf_counter()
            answers.append([item for item, _ in call(key, 10)])
            times.append(time.perf_counter() - begun)
        return times, answers

    ann_times, ann_answers = timed(scorer.recommend, users)
    sim_times, sim_answers = timed(scorer.similar_items, items)
    ann_memory = memory()
    index, scorer.item_index = scorer.item_index, None
    exact_times, exact_answers = timed(scorer.recommend, users[:exact_queries])
    sim_exact_times, sim_exact_answers = timed(scorer.similar_items, items[:exact_queries])
    scorer.item_index = index

    def recall(found, truth):
        return sum(len(set(a) & set(b)) for a, b in zip(found, truth, strict=False)) / sum(map(len, truth))

    print("ready", flush=True)
    sys.stdin.readline()  # the parent asks once every worker has answered and holds the model
    result = {
        "load_s": load_s,
        "baseline": baseline,
        "after_ann": ann_memory,
        "both_loaded": memory(),
        "recall": recall(ann_answers, exact_answers),
        "similar_recall": recall(sim_answers, sim_exact_answers),
        "ann": percentiles(ann_times),
        "exact": percentiles(exact_times),
        "similar_ann": percentiles(sim_times),
        "similar_exact": percentiles(sim_exact_times),
        "counts": scorer.retrieval_counts,
    }
    print(json.dumps(result), flush=True)
    sys.stdin.readline()


def measure(folder: Path, queries: int, exact_queries: int) -> list[dict]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, __file__, "--worker", str(folder), "--queries", str(queries)]
    command += ["--exact-queries", str(exact_queries)]
    processes = [
        subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        for _ in range(WORKERS)
    ]
    for process in processes:
        assert process.stdout.readline().strip() == "loaded"
    for process in processes:
        process.stdin.write("\n")
        process.stdin.flush()
        assert process.stdout.readline().strip() == "ready"
    results = []
    for process in processes:
        process.stdin.write("\n")
        process.stdin.flush()
        results.append(json.loads(process.stdout.readline()))
    for process in processes:
        process.stdin.write("\n")
        process.stdin.close()
        process.wait()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--exact-queries", type=int, default=100)
    parser.add_argument("--worker")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.queries, args.exact_queries)
        return
    rows = []
    for n_items in args.items:
        with tempfile.TemporaryDirectory(prefix="bench-ann-") as folder:
            facts = build(n_items, Path(folder), seed=1)
            workers = measure(Path(folder), args.queries, args.exact_queries)
        first = workers[0]
        row = {"items": n_items, **facts, "workers": workers}
        rows.append(row)
        print(f"\n{n_items:,} items: index {facts['index']}, build {facts['build_s']:.1f} s, files {facts['files_mb']}")
        print(f"  recall@10 {first['recall']:.3f} (similar items {first['similar_recall']:.3f})")
        print(f"  answered by {first['counts']}")
        for name in ("ann", "exact", "similar_ann", "similar_exact"):
            print(f"  {name:14} p50 {first[name]['p50_ms']:7.2f} ms  p99 {first[name]['p99_ms']:7.2f} ms")
        print(f"  exact/ann p50 ratio {first['exact']['p50_ms'] / first['ann']['p50_ms']:.1f}")
        for number, result in enumerate(workers):
            print(
                f"  worker {number}: load {result['load_s']:.1f} s; "
                f"baseline RSS {result['baseline']['rss_mb']:.0f} MB; "
                f"serving through the index: RSS {result['after_ann']['rss_mb']:.0f} MB, "
                f"PSS {result['after_ann']['pss_mb']:.0f} MB; after the exact reference too (every vector read), "
                f"both workers up: RSS {result['both_loaded']['rss_mb']:.0f} MB, "
                f"PSS {result['both_loaded']['pss_mb']:.0f} MB"
            )
    if len(rows) > 1:
        small, large = rows[0], rows[-1]
        growth = math.log(large["items"] / small["items"])
        for name in ("ann", "exact"):
            slope = math.log(large["workers"][0][name]["p50_ms"] / small["workers"][0][name]["p50_ms"]) / growth
            print(f"slope of log p50 against log items, {name}: {slope:.2f}")
        build_slope = math.log(large["build_s"] / small["build_s"]) / growth
        print(f"slope of log build time against log items: {build_slope:.2f}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
