"""Recommendation quality of every recipe beside popularity, under two protocols.

    .venv/bin/python bench/quality.py                      # generated data (labelled synthetic)
    .venv/bin/python bench/quality.py --synthetic order    # generated data with planted order
    .venv/bin/python bench/quality.py --synthetic typed --recipes sasrec,sasrec+event_types+time_gaps
    .venv/bin/python bench/quality.py --data ratings.dat --sep :: \\
        --columns user,item,rating,timestamp --min-rating 4  # e.g. MovieLens-1M

Protocols: ``random_holdout`` (25% of each user's items held out, all items
ranked, training items removed), ``leave_last_out`` with the held-out item
ranked among 99 sampled unseen items (He et al. 2017) and ``leave_last_out``
ranked against every item (``leave_last_out_full``, the default protocol for
sequence recipes).  Every recipe runs with its default parameters: nothing
is tuned to the data.  ``--synthetic order`` generates data whose next item
follows from the previous one's taste cluster (planted order); ``--synthetic
typed`` the same with event types that decide the transition (after a view
the cluster stays, after a purchase it moves on) and events in sessions; the
default ``taste`` data has no order at all. A recipe name followed by
``+flag`` runs it with that boolean parameter on (``sasrec+event_types``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from recommender.ml import evaluate, list_recipes  # noqa: E402
from recommender.ml.synthetic import generate_interactions, generate_sequential_interactions  # noqa: E402

COLUMN_NAMES = {"user": "user_id", "item": "item_id", "rating": "value", "timestamp": "timestamp"}
SEPARATORS = {"TAB": "\t", "COMMA": ",", "SPACE": " "}
PROTOCOLS = (
    ("random_holdout", {"protocol": "random_holdout"}, "all items"),
    ("leave_last_out", {"protocol": "leave_last_out", "sampled_negatives": 99}, "1 + 99 sampled"),
    ("leave_last_out_full", {"protocol": "leave_last_out"}, "all items"),
)
SHOWN_METRICS = ("ndcg", "hr", "recall", "precision", "map")


def main(argv=None) -> int:
    args = parse_args(argv)
    interactions, items, label = load_data(args)
    # The baseline first, so every other row reads against it.
    recipes = (
        args.recipes.split(",")
        if args.recipes
        else sorted(
            (recipe.name for recipe in list_recipes() if recipe.task == "recommendation"),
            key=lambda name: (name != "popularity", name),
        )
    )
    print(f"# Data: {label}")
    print(
        f"# {len(interactions)} interactions, {interactions.user_id.nunique()} users, "
        f"{interactions.item_id.nunique()} items; k={args.k}, seed={args.seed}\n"
    )
    results = []
    chosen = args.protocols.split(",") if args.protocols else [name for name, _, _ in PROTOCOLS]
    for protocol, options, candidates in (entry for entry in PROTOCOLS if entry[0] in chosen):
        print(f"## {protocol} (ranked against {candidates})\n")
        header = ["recipe"] + [f"{name}@{args.k}" for name in SHOWN_METRICS] + ["coverage", "train s"]
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for spec in recipes:
            recipe, *flags = spec.split("+")
            features = {"items": items} if recipe == "two_tower" and items is not None else {}
            started = time.perf_counter()
            params = dict.fromkeys(flags, True)
            report = evaluate(
                recipe, params, interactions=interactions, k=args.k, seed=args.seed, **options, **features
            )
            metrics = report.metrics
            row = [spec] + [f"{metrics[f'{name}@{args.k}']:.4f}" for name in SHOWN_METRICS]
            row += [f"{metrics['coverage']:.3f}", f"{report.train_seconds:.1f}"]
            print("| " + " | ".join(row) + " |", flush=True)
            results.append({**report.to_dict(), "wall_seconds": time.perf_counter() - started})
        print()
    if args.json:
        Path(args.json).write_text(json.dumps({"data": label, "results": results}, indent=2))
    return 0


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="interactions file; without it a synthetic dataset is generated")
    parser.add_argument("--sep", default=",", help="field separator: a string, or TAB / COMMA / SPACE")
    parser.add_argument(
        "--columns",
        help="names of the file's columns in order, from user,item,rating,timestamp "
        "(the file then has no header); default: a header with user_id,item_id",
    )
    parser.add_argument("--min-rating", type=float, help="keep only rows whose rating is at least this")
    parser.add_argument("--recipes", help="comma-separated recipe names (default: every recommendation recipe)")
    parser.add_argument("--protocols", help="comma-separated protocol names (default: all three)")
    parser.add_argument(
        "--synthetic",
        choices=("taste", "order", "typed"),
        default="taste",
        help="generated data without --data: taste clusters (no order), planted order, or order set by event types",
    )
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", help="also write all reports to this JSON file")
    return parser.parse_args(argv)


def load_data(args):
    if args.data is None and args.synthetic in ("order", "typed"):
        typed = args.synthetic == "typed"
        synthetic = generate_sequential_interactions(
            n_users=2000, n_items=1000, n_clusters=20, mean_items_per_user=30, order_strength=0.8, seed=args.seed,
            typed=typed,
        )  # fmt: skip
        return (
            synthetic.interactions,
            synthetic.items,
            (
                "SYNTHETIC WITH PLANTED ORDER (recommender.ml.synthetic.generate_sequential_interactions: 2000 users, "
                "1000 items, 20 taste clusters in a chain, order_strength=0.8, Zipf popularity"
                + (", typed: views stay in the cluster, purchases move on; sessions" if typed else "")
                + ") - not real-world data"
            ),
        )
    if args.data is None:
        synthetic = generate_interactions(
            n_users=2000, n_items=1000, n_clusters=20, mean_items_per_user=30, taste_strength=0.7, seed=args.seed
        )
        return (
            synthetic.interactions,
            synthetic.items,
            (
                "SYNTHETIC (recommender.ml.synthetic.generate_interactions: 2000 users, 1000 items, 20 taste "
                "clusters, Zipf popularity, taste_strength=0.7) - not real-world data"
            ),
        )
    separator = SEPARATORS.get(args.sep, args.sep)
    engine = "python" if len(separator) > 1 else "c"
    if args.columns:
        names = [COLUMN_NAMES.get(name.strip(), name.strip()) for name in args.columns.split(",")]
        frame = pd.read_csv(args.data, sep=separator, names=names, header=None, engine=engine)
    else:
        frame = pd.read_csv(args.data, sep=separator, engine=engine)
    if args.min_rating is not None:
        frame = frame[frame["value"] >= args.min_rating]
    return frame, None, f"{args.data}" + (f" (rating >= {args.min_rating})" if args.min_rating is not None else "")


if __name__ == "__main__":
    sys.exit(main())
