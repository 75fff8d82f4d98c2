"""How the default model's training and serving grow with the data (library level, issue 15 item 9 in part).

    .venv/bin/python bench/scale.py                 # tiers XS and S, the default 3600 s budget
    .venv/bin/python bench/scale.py --seconds 200   # a plan too short for the neural recipes
    .venv/bin/python bench/scale.py --tiers XS,S,M  # M needs several GB and a long while

Each tier is generated data (users in 50 taste groups, Zipf popularity within
a group; five to fifteen items a user) trained in a fresh process with the
defaults of ``auto`` (1.5 GB, and ``--seconds`` as the plan's time limit): the automatic choice with its
validation, then the winner on all the data, then 2,000 sequential
recommendations and similar-items calls on the trained scorer.  Printed per
tier: training seconds, the chosen recipe, peak RSS of the process, p50/p99
of both calls, and the growth exponent of training time (slope of log time
against log interactions between consecutive tiers).  Not yet through the
public API (import, deploy and web workers are not measured here).
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
    "XS": {"interactions": 250_000, "users": 25_000, "items": 12_500},
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
    parser.add_argument("--seconds", type=float, default=3600.0, help="the plan's training time limit")
    parser.add_argument("--one-tier", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
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
