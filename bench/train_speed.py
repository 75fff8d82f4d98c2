"""Numpy serving latency, and NeuMF training overhead of the recipe versus bare Keras.

    .venv/bin/python bench/train_speed.py [--epochs 3] [--repeats 2]

Part 1 times ``scorer.recommend(user, k=10)`` over a 10,000-item catalogue
for each scorer kind, built with the default layer sizes and random weights
(latency depends on shapes, not on trained values).  Target: median < 1 ms.
It runs with the default BLAS threading and again with OPENBLAS_NUM_THREADS=1.

Part 2 trains the same NeuMF (default recipe parameters) on the same
generated positives two ways: through ``train("neumf", ...)`` (data
validation, per-epoch negative sampling, progress callbacks, numpy export)
and as a minimal hand-written Keras script (negatives sampled once,
``model.fit`` on arrays).  Both include model construction; the ratio of
wall times is the recipe's overhead (target <= 1.2).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from recommender.ml import get_recipe, train  # noqa: E402
from recommender.ml.recipes.ease import keep_largest_per_row  # noqa: E402
from recommender.ml.scorers import EmbeddingScorer, ItemItemScorer, NeuMFScorer, PopularityScorer  # noqa: E402
from recommender.ml.synthetic import generate_interactions  # noqa: E402

CATALOGUE = 10_000
HISTORY = 30
CALLS = 1000


def bare_keras_neumf(users, items, n_users, n_items, params, epochs, seed):
    """What one would write by hand: build, compile, sample negatives once, fit."""
    import keras

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    negative_users = np.repeat(users, params["negatives"])
    negative_items = rng.integers(0, n_items, len(negative_users), dtype=np.int32)
    x_users = np.concatenate([users, negative_users])
    x_items = np.concatenate([items, negative_items])
    labels = np.concatenate([np.ones(len(users)), np.zeros(len(negative_users))]).astype(np.float32)

    user_in = keras.Input(shape=(), dtype="int32")
    item_in = keras.Input(shape=(), dtype="int32")
    normal = keras.initializers.RandomNormal(stddev=0.01)
    gmf = keras.layers.Multiply()(
        [
            keras.layers.Embedding(n_users, params["gmf_dim"], embeddings_initializer=normal)(user_in),
            keras.layers.Embedding(n_items, params["gmf_dim"], embeddings_initializer=normal)(item_in),
        ]
    )
    hidden = keras.layers.Concatenate()(
        [
            keras.layers.Embedding(n_users, params["mlp_dim"], embeddings_initializer=normal)(user_in),
            keras.layers.Embedding(n_items, params["mlp_dim"], embeddings_initializer=normal)(item_in),
        ]
    )
    for units in params["mlp_layers"]:
        hidden = keras.layers.Dense(units, activation="relu")(hidden)
    output = keras.layers.Dense(1)(keras.layers.Concatenate()([gmf, hidden]))
    model = keras.Model([user_in, item_in], output)
    model.compile(keras.optimizers.Adam(params["learning_rate"]), keras.losses.BinaryCrossentropy(from_logits=True))
    model.fit([x_users, x_items], labels, batch_size=params["batch_size"], epochs=epochs, shuffle=True, verbose=0)
    return len(labels) * epochs


def training_overhead(epochs: int, repeats: int, seed: int) -> None:
    data = generate_interactions(n_users=2000, n_items=1000, n_clusters=20, mean_items_per_user=30, seed=seed)
    interactions = data.interactions
    pairs = interactions[["user_id", "item_id"]].drop_duplicates()
    user_codes, _ = np.unique(pairs.user_id, return_inverse=True)
    item_codes, _ = np.unique(pairs.item_id, return_inverse=True)
    users = np.searchsorted(user_codes, pairs.user_id).astype(np.int32)
    items = np.searchsorted(item_codes, pairs.item_id).astype(np.int32)
    params = get_recipe("neumf").validate({"epochs": epochs})
    print(
        f"NeuMF training: {len(pairs)} positives x (1 + {params['negatives']} negatives), {epochs} epochs, "
        f"batch {params['batch_size']}, layers {list(params['mlp_layers'])}; {os.cpu_count()} CPU cores"
    )
    # A throwaway run pays TensorFlow's one-off start-up costs before anything is timed.
    bare_keras_neumf(users[:512], items[:512], len(user_codes), len(item_codes), params, 1, seed)
    bare_times, recipe_times = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        examples = bare_keras_neumf(users, items, len(user_codes), len(item_codes), params, epochs, seed)
        bare_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        train("neumf", {"epochs": epochs}, interactions=interactions, seed=seed)
        recipe_times.append(time.perf_counter() - started)
    bare, recipe = min(bare_times), min(recipe_times)
    print(f"  bare Keras : {bare:6.2f} s  ({examples / bare:,.0f} examples/s)   runs: {_fmt(bare_times)}")
    print(f"  recipe     : {recipe:6.2f} s  ({examples / recipe:,.0f} examples/s)   runs: {_fmt(recipe_times)}")
    print(f"  ratio recipe/bare (best of {repeats}): {recipe / bare:.2f}  (target <= 1.2)")


def serving_latency(seed: int) -> None:
    rng = np.random.default_rng(seed)
    params = get_recipe("neumf").validate({})
    user_ids = [f"u{user}" for user in range(100)]
    item_ids = [f"i{item}" for item in range(CATALOGUE)]
    indptr = np.arange(101) * HISTORY
    history = rng.integers(0, CATALOGUE, 100 * HISTORY)
    csr = (user_ids, item_ids, indptr, history)

    def normal(*shape):
        return rng.normal(0, 0.1, shape).astype(np.float32)

    layer_sizes = [2 * params["mlp_dim"], *params["mlp_layers"]]
    scorers = {
        "popularity": PopularityScorer("popularity", *csr, rng.random(CATALOGUE)),
        "ease": ItemItemScorer("ease", *csr, *keep_largest_per_row(normal(CATALOGUE, CATALOGUE), 200)),
        "neumf": NeuMFScorer(
            "neumf",
            *csr,
            gmf_user=normal(100, params["gmf_dim"]),
            gmf_item=normal(CATALOGUE, params["gmf_dim"]),
            mlp_user=normal(100, params["mlp_dim"]),
            mlp_item=normal(CATALOGUE, params["mlp_dim"]),
            kernels=[normal(a, b) for a, b in zip(layer_sizes[:-1], layer_sizes[1:], strict=True)],
            biases=[normal(b) for b in layer_sizes[1:]],
            output_kernel=normal(params["gmf_dim"] + layer_sizes[-1], 1),
            output_bias=normal(1),
        ),
        "two_tower": EmbeddingScorer("two_tower", *csr, normal(100, 64), normal(CATALOGUE, 64)),
    }
    print(f"recommend(user, k=10) over {CATALOGUE:,} items, {HISTORY} seen items excluded, {CALLS} calls each:")
    for name, scorer in scorers.items():
        timings = []
        for call in range(CALLS):
            started = time.perf_counter()
            scorer.recommend(user_ids[call % 100], k=10)
            timings.append(time.perf_counter() - started)
        timings.sort()
        print(
            f"  {name:<11} median {statistics.median(timings) * 1e3:.3f} ms   "
            f"p95 {timings[int(0.95 * CALLS)] * 1e3:.3f} ms   (target median < 1 ms)"
        )
    print()


def _fmt(times):
    return ", ".join(f"{value:.2f}" for value in times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--serving-only", action="store_true", help="skip the training comparison")
    args = parser.parse_args(argv)
    # Serving runs first, as in a web worker: before TensorFlow is loaded, whose
    # idle thread pools would otherwise compete with numpy for the cores.
    assert "tensorflow" not in sys.modules
    print(
        f"BLAS threads: OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset (one per core)')}; "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (other work skews timings)"
    )
    serving_latency(args.seed)
    if args.serving_only:
        return 0
    if "OPENBLAS_NUM_THREADS" not in os.environ:
        # Multi-threaded BLAS on small per-request products mostly adds tail
        # latency; show the single-threaded figures recommended for web workers.
        subprocess.run(
            [sys.executable, __file__, "--serving-only", "--seed", str(args.seed)],
            env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
            check=True,
        )
    training_overhead(args.epochs, args.repeats, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
