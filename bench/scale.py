"""How the default model grows with the data (issue 15, item 9).

Through the public API (the default), every default of a "standard" plan tenant:

    .venv/bin/python bench/scale.py --tiers XS        # 10k interactions: a smoke run (~2 min)
    .venv/bin/python bench/scale.py --tiers XS,S      # + 1M interactions, 100k users, 50k items
    .venv/bin/python bench/scale.py --tiers M         # 10M / 1M users / 300k items (long; several GB)
    .venv/bin/python bench/scale.py --plan-seconds 200  # a plan limit too short for the neural recipes

Per tier: a throwaway PostgreSQL database, one Celery worker (prefork, one
child: imports, training and batch run in the same child process) and one
gunicorn worker. The tier's CSV is uploaded with ``POST
/api/v1/datasets/{id}/imports``; a model with no recipe (``auto``) is trained
with ``POST /api/v1/models/{slug}/train`` and deployed by the first-version
rule; then 1,000 sequential recommendations and similar-items calls over HTTP,
and a batch job over every user (at most the plan's 100,000; ``--batch-users``
lists fewer). Printed per tier: import and training seconds (request to
done), the chosen recipe, the worker child's peak RSS in each phase (VmHWM,
reset between phases), the web worker's RSS, p50/p99 of both calls, batch
users/s, and the growth exponent (slope of log seconds against log
interactions between consecutive tiers) for import and training.

Library level (``--library``, tiers LXS = 250k and S): the automatic choice
and training in one process from a generated frame, no import, no HTTP.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TIERS = {
    "XS": {"interactions": 10_000, "users": 1_000, "items": 500},
    "LXS": {"interactions": 250_000, "users": 25_000, "items": 12_500},
    "S": {"interactions": 1_000_000, "users": 100_000, "items": 50_000},
    "M": {"interactions": 10_000_000, "users": 1_000_000, "items": 300_000},
}
GROUPS = 50
CALLS = 2000


def generate(interactions: int, users: int, items: int, seed: int = 0):
    """Interactions with planted taste groups and Zipf popularity inside each group, as a DataFrame."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    user = rng.integers(0, users, interactions)
    per_group = items // GROUPS
    popularity = 1.0 / np.arange(1, per_group + 1)
    rank = rng.choice(per_group, size=interactions, p=popularity / popularity.sum())
    # Four picks in five follow the user's taste group, the rest any group.
    group = np.where(rng.random(interactions) < 0.8, user % GROUPS, rng.integers(0, GROUPS, interactions))
    item = rank * GROUPS + group
    return pd.DataFrame({
        "user_id": pd.Series(user).map("u{}".format),
        "item_id": pd.Series(item).map("i{}".format),
        "timestamp": 1.7e9 + np.arange(interactions, dtype=np.float64),
    })  # fmt: skip


def run_tier(name: str, seconds: float) -> dict:
    import numpy as np

    from recommender.ml import Budget, choose_recipe, train

    shape = TIERS[name]
    frame = generate(**shape)
    started = time.perf_counter()
    choice = choose_recipe(interactions=frame, budget=Budget(seconds=seconds))
    chose = time.perf_counter() - started
    trained = train(choice.recipe, choice.params, interactions=frame)
    seconds = time.perf_counter() - started
    scorer = trained.scorer
    rng = np.random.default_rng(1)
    latencies = {}
    for call, ids, method in (
        ("recommend", scorer.user_ids, scorer.recommend),
        ("similar_items", scorer.item_ids, getattr(scorer, "similar_items", None)),
    ):
        if method is None:
            continue
        timings = []
        for position in rng.integers(0, len(ids), CALLS):
            begun = time.perf_counter()
            try:
                method(str(ids[position]), 10)
            except Exception:  # noqa: BLE001 - an operation the chosen recipe lacks
                break
            timings.append(time.perf_counter() - begun)
        if timings:
            latencies[call] = {"p50_ms": float(np.percentile(timings, 50) * 1000),
                               "p99_ms": float(np.percentile(timings, 99) * 1000)}  # fmt: skip
    return {
        "tier": name,
        **shape,
        "distinct_items": int(frame.item_id.nunique()),
        "chosen": choice.recipe,
        "params": choice.params,
        "candidates": {c["recipe"]: c["score"] if c["score"] is not None else c["status"] for c in choice.candidates},
        "choice_seconds": chose,
        "training_seconds": seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "latency": latencies,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiers", default="XS,S")
    parser.add_argument("--library", action="store_true", help="the library-level run (no import, no HTTP)")
    parser.add_argument("--plan-seconds", type=int, default=None, help="the tenant plan's training time limit")
    parser.add_argument("--batch-users", type=int, default=None, help="list this many users instead of every one")
    parser.add_argument("--calls", type=int, default=1000, help="sequential calls per serving endpoint")
    parser.add_argument("--redis-db", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=3600.0, help="the plan's training time limit")
    parser.add_argument("--one-tier", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.library:
        from bench.scale_api import run_api_tiers

        return run_api_tiers(args, TIERS, generate)
    if args.one_tier:
        print(json.dumps(run_tier(args.one_tier, args.seconds)))
        return 0
    results = []
    for name in args.tiers.split(","):
        # A fresh process per tier, so its peak RSS is its own.
        command = [sys.executable, __file__, "--one-tier", name, "--seconds", str(args.seconds)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results.append(json.loads(output.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    print(
        "\n| tier | interactions | users | items | chosen | training s | growth exponent | peak RSS MB "
        "| recommend p50/p99 ms | similar p50/p99 ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    previous = None
    for result in results:
        exponent = ""
        if previous is not None:
            exponent = f"{math.log(result['training_seconds'] / previous['training_seconds']) / math.log(result['interactions'] / previous['interactions']):.2f}"  # noqa: E501
        latency = result["latency"]
        cells = [f"{latency[c]['p50_ms']:.2f} / {latency[c]['p99_ms']:.2f}" if c in latency else "–"
                 for c in ("recommend", "similar_items")]  # fmt: skip
        print(
            f"| {result['tier']} | {result['interactions']:,} | {result['users']:,} | {result['distinct_items']:,} "
            f"| {result['chosen']} | {result['training_seconds']:.0f} | {exponent} | {result['peak_rss_mb']:.0f} "
            f"| {cells[0]} | {cells[1]} |"
        )
        previous = result
    return 0


if __name__ == "__main__":
    sys.exit(main())
