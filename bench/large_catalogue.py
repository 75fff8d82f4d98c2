"""Large-catalogue recipes beside EASE, and what ``auto`` chooses, on one interactions file.

    .venv/bin/python bench/large_catalogue.py --data ../shared/data/lastfm/user_artists.dat --sep TAB \\
        --recipes "ease" "ease:l2=100" "sparse_ease" "sparse_ease:l2=100" --choose

Each recipe spec is ``name`` or ``name:param=value,...``.  Every recipe is
evaluated with ``random_holdout`` (25% of each user's items held out, the
whole catalogue ranked, seed 42), the protocol of docs/benchmarks.md's
quality table.  ``--choose`` then runs the automatic choice with the default
budget (1.5 GB, 3600 s) and prints every candidate's fate.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from recommender.ml import Budget, choose_recipe, evaluate  # noqa: E402

SEPARATORS = {"TAB": "\t", "COMMA": ",", "SPACE": " "}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="interactions file with a header: user, item[, ...]")
    parser.add_argument("--sep", default=",", help="field separator: a string, or TAB / COMMA / SPACE")
    parser.add_argument("--recipes", nargs="*", default=["sparse_ease"], help="recipe specs (see above)")
    parser.add_argument("--choose", action="store_true", help="also run the automatic choice")
    args = parser.parse_args(argv)
    frame = pd.read_csv(args.data, sep=SEPARATORS.get(args.sep, args.sep))
    frame = frame.rename(columns={frame.columns[0]: "user_id", frame.columns[1]: "item_id"})[["user_id", "item_id"]]
    print(
        f"# {args.data}: {len(frame)} interactions, {frame.user_id.nunique()} users, {frame.item_id.nunique()} items\n"
    )
    print("| recipe | params | ndcg@10 | recall@10 | train s |")
    print("|---|---|---|---|---|")
    for spec in args.recipes:
        name, _, options = spec.partition(":")
        params = {key: float(value) for key, value in (item.split("=") for item in options.split(",") if item)}
        params = {key: int(value) if key in ("neighbors", "max_history") else value for key, value in params.items()}
        report = evaluate(name, params, interactions=frame, protocol="random_holdout", seed=42)
        metrics = report.metrics
        print(
            f"| {name} | {options or 'defaults'} | {metrics['ndcg@10']:.4f} | {metrics['recall@10']:.4f} | "
            f"{report.train_seconds:.1f} |",
            flush=True,
        )
    if args.choose:
        started = time.perf_counter()
        choice = choose_recipe(interactions=frame, budget=Budget())
        print(f"\nauto chose {choice.recipe} {choice.params} in {time.perf_counter() - started:.0f} s: {choice.reason}")
        for candidate in choice.candidates:
            print(f"- {candidate['recipe']}: {candidate['status']} {candidate.get('score')} {candidate['reason']}")
        print(f"tuning: {choice.tuning}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
