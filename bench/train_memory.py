"""Peak memory of a training process reading its interactions (issue 15, item 3), beside a bare numpy process.

    .venv/bin/python bench/train_memory.py                      # 1M interactions
    .venv/bin/python bench/train_memory.py --tiers 1000000,10000000 --fit sparse_ease

The tier's generated interactions (``bench/scale.py``'s generator) are COPYed
into a throwaway database; then each mode runs in a fresh process (Django set
up, pandas and numpy imported in every one, so the fixed cost is the same) and
reports its peak RSS (``VmHWM``):

- ``bare``: allocates the per-row arrays the data needs (int32 user and item,
  float64 timestamp) with numpy and fills them: the floor for holding the data.
- ``arrays``: what training does now: ``frames.interactions_arrays`` (COPY to a
  temporary file, read in chunks, ids encoded as they arrive) and
  ``prepare_interactions`` on the result.
- ``frame``: what training did before: the whole COPY read into one pandas
  frame, then ``prepare_interactions`` on it (kept here as the reference).
- ``fit`` (``--fit RECIPE``): ``arrays`` then the recipe's training with its defaults.

Printed: peak RSS per mode and tier, the ratio to ``bare`` of the growth over
the empty process, and MB per million interactions between tiers (the slope).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = "bench_train_memory"
SHAPES = {1_000_000: (100_000, 50_000), 10_000_000: (1_000_000, 300_000)}


def _environment():
    return {**os.environ, "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
            "DJANGO_SETTINGS_MODULE": "saas_platform.settings", "LOG_LEVEL": "WARNING",
            "OPENBLAS_NUM_THREADS": "1"}  # fmt: skip


def _load(interactions: int) -> tuple[int, int]:
    """A fresh database holding one tenant's dataset of ``interactions`` generated rows; (tenant, dataset) ids."""
    from bench.common import fresh_database

    fresh_database(DB_NAME)
    script = (
        "import django; django.setup()\n"
        "from django.core.management import call_command; call_command('migrate', verbosity=0)\n"
        "from recommender.data.models import Dataset\n"
        "from tenants.services import create_tenant, get_or_create_user\n"
        "tenant = create_tenant(name='Memory', owner=get_or_create_user(username='bench'))\n"
        "dataset = Dataset.objects.create(tenant=tenant, name='events', kind='interactions')\n"
        "print(tenant.pk, dataset.pk)\n"
    )
    output = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=_environment(), check=True,
                            capture_output=True, text=True).stdout  # fmt: skip
    tenant_id, dataset_id = map(int, output.strip().splitlines()[-1].split())
    import pandas as pd
    import psycopg2

    from bench.scale import generate

    users, items = SHAPES.get(interactions, (interactions // 10, interactions // 20))
    frame = generate(interactions, users, items)
    frame = frame.assign(
        tenant_id=tenant_id,
        dataset_id=dataset_id,
        timestamp=pd.to_datetime(frame.timestamp, unit="s", utc=True).dt.strftime("%Y-%m-%d %H:%M:%S+00"),
        event_type="view",
        created_at="2026-01-01 00:00:00+00",
    )
    columns = ["tenant_id", "dataset_id", "user_id", "item_id", "timestamp", "event_type", "created_at"]
    connection = psycopg2.connect(host="127.0.0.1", user="postgres", dbname=DB_NAME)
    with connection, connection.cursor() as cursor:
        for first in range(0, len(frame), 1_000_000):
            buffer = io.StringIO()
            frame.iloc[first : first + 1_000_000][columns].to_csv(buffer, index=False, header=False)
            buffer.seek(0)
            cursor.copy_expert(f"COPY data_interaction ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)", buffer)
        cursor.execute("ANALYZE data_interaction")
    connection.close()
    return tenant_id, dataset_id


def _vm(field: str) -> float:
    status = Path("/proc/self/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+) kB", status).group(1)) / 1024


def _measure(mode: str, dataset_id: int, interactions: int, fit: str | None) -> dict:
    """Runs in a fresh process: one mode, its peak RSS."""
    import django

    django.setup()
    import numpy as np
    import pandas as pd  # noqa: F401 - every mode pays for it, as a training process does

    from recommender.data import frames
    from recommender.data.models import Dataset
    from recommender.ml.data import prepare_interactions

    before = _vm("VmHWM")
    started = time.perf_counter()
    dataset = Dataset.objects.select_related("tenant").get(pk=dataset_id)
    if mode == "bare":
        rng = np.random.default_rng(0)
        held = (rng.integers(0, 2**31 - 1, interactions, dtype=np.int32),
                rng.integers(0, 2**31 - 1, interactions, dtype=np.int32), rng.random(interactions))  # fmt: skip
        rows = len(held[0])
    elif mode == "frame":
        # The former path: the whole COPY as one frame (object columns of strings), then prepared.
        import tempfile

        from django.db import connection

        sql = (
            'COPY (SELECT user_id, item_id, extract(epoch FROM "timestamp")::float8, value, event_type '  # noqa: S608
            f"FROM data_interaction WHERE tenant_id = {dataset.tenant_id} AND dataset_id = {dataset.pk} "
            "ORDER BY id) TO STDOUT WITH (FORMAT csv)"
        )
        with tempfile.TemporaryFile() as buffer, connection.cursor() as cursor:
            cursor.copy_expert(sql, buffer)
            buffer.seek(0)
            frame = pd.read_csv(buffer, names=frames.INTERACTION_COLUMNS, keep_default_na=False,
                                dtype={"user_id": str, "item_id": str, "event_type": str, "timestamp": "float64",
                                       "value": "float64"}, na_values={"timestamp": [""], "value": [""]})  # fmt: skip
        data = prepare_interactions(frame)
        rows = data.n_rows
    else:
        arrays = frames.interactions_arrays(dataset)
        data = prepare_interactions(arrays)
        rows = data.n_rows
        if mode == "fit":
            from recommender.ml import train

            del data
            train(fit, {}, interactions=arrays)
    seconds = time.perf_counter() - started
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so it would report the parent's peak.
    peak = _vm("VmHWM")
    return {"mode": mode, "rows": rows, "start_rss_mb": round(before), "peak_rss_mb": round(peak),
            "seconds": round(seconds, 1)}  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiers", default="1000000", help="comma-separated interaction counts")
    parser.add_argument("--fit", help="also train this recipe on the arrays (e.g. sparse_ease)")
    parser.add_argument("--modes", default="bare,arrays,frame")
    parser.add_argument("--reuse", type=int, help="measure the dataset of this id already loaded (one tier)")
    parser.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        mode, dataset_id, interactions = args.one
        print(json.dumps(_measure(mode, int(dataset_id), int(interactions), args.fit)))
        return 0
    modes = args.modes.split(",") + (["fit"] if args.fit else [])
    results = {}
    for tier in (int(value) for value in args.tiers.split(",")):
        started = time.perf_counter()
        dataset_id = args.reuse or _load(tier)[1]
        print(f"{tier:,} interactions loaded in {time.perf_counter() - started:.0f} s", flush=True)
        for mode in modes:
            command = [sys.executable, __file__, "--one", mode, str(dataset_id), str(tier)]
            if args.fit:
                command += ["--fit", args.fit]
            output = subprocess.run(command, cwd=ROOT, env=_environment(), check=True, capture_output=True,
                                    text=True).stdout  # fmt: skip
            results[(tier, mode)] = json.loads(output.strip().splitlines()[-1])
            print(json.dumps({"interactions": tier, **results[(tier, mode)]}), flush=True)
    tiers = sorted({tier for tier, _ in results})
    print("\n| interactions | mode | peak RSS MB | growth over the empty process MB | ÷ bare | seconds |")
    print("|---|---|---|---|---|---|")
    for tier in tiers:
        bare = results.get((tier, "bare"))
        bare_growth = bare["peak_rss_mb"] - bare["start_rss_mb"] if bare else None
        for mode in modes:
            result = results[(tier, mode)]
            growth = result["peak_rss_mb"] - result["start_rss_mb"]
            ratio = f"{growth / bare_growth:.2f}" if bare_growth else ""
            print(f"| {tier:,} | {mode} | {result['peak_rss_mb']} | {growth} | {ratio} | {result['seconds']} |")
    if len(tiers) > 1:
        low, high = tiers[0], tiers[-1]
        for mode in modes:
            slope = (results[(high, mode)]["peak_rss_mb"] - results[(low, mode)]["peak_rss_mb"]) / ((high - low) / 1e6)
            print(f"{mode}: {slope:.0f} MB per million interactions between {low:,} and {high:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
