"""Training through the platform against calling the recipe directly, on the same data, in one run.

    .venv/bin/python bench/train_overhead.py [--epochs 10] [--users 2000]

Direct: ``ml.evaluate`` then ``ml.train`` then ``ml.save_artifact`` in this process,
the same ML work the platform does for a version (metrics beside the baseline,
then the model on all data). Platform: ``POST /api/v1/models/{slug}/train`` until
the new version is deployed, with a real Celery worker process on Redis and a
throwaway PostgreSQL database. Rounds alternate direct and platform so
both see the same machine load; the best warm round of each is compared
(target: at most 1.15 for a training of about a minute).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import flush_redis, fresh_database, store_interactions  # noqa: E402

DB_NAME = "bench_overhead"
API_CHECK_SECONDS = 5


def _setup_environment(storage):
    os.environ.update(
        {
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
            "REDIS_URL": "redis://127.0.0.1:6379/12",
            "STORAGE_ROOT": storage,
            "DJANGO_SETTINGS_MODULE": "saas_platform.settings",
            "LOG_LEVEL": "WARNING",
        }
    )
    fresh_database(DB_NAME)
    flush_redis(12)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the first is a warm-up")
    args = parser.parse_args()
    storage = tempfile.mkdtemp(prefix="bench-overhead-")
    _setup_environment(storage)

    import django

    django.setup()
    from django.core.management import call_command
    from rest_framework.test import APIClient

    from recommender import ml
    from recommender.data import frames
    from recommender.data.models import Dataset
    from recommender.ml.synthetic import generate_interactions
    from recommender.training.models import Deployment
    from tenants.audit import Actor
    from tenants.services import create_tenant, get_or_create_user, issue_api_key

    call_command("migrate", verbosity=0)
    owner = get_or_create_user(username="bench")
    tenant = create_tenant(name="Bench", owner=owner)
    data = generate_interactions(n_users=args.users, n_items=1000, n_clusters=20, seed=1).interactions
    dataset = Dataset.objects.create(tenant=tenant, name="events", kind="interactions")
    store_interactions(tenant, dataset, data)
    params = {"epochs": args.epochs}
    frame = frames.interactions_arrays(dataset)
    print(f"{frame.n_rows} interactions, {len(frame.user_ids)} users; neumf, {args.epochs} epochs", flush=True)

    def direct():
        ml.evaluate("neumf", params, interactions=frame, seed=42)
        trained = ml.train("neumf", params, interactions=frame, seed=42)
        with tempfile.TemporaryDirectory() as folder:
            ml.save_artifact(trained, folder)

    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "saas_platform", "worker", "--queues", "default,training,imports",
         "--concurrency", "1", "--loglevel", "WARNING"],
        cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    key = issue_api_key(actor=Actor(tenant=tenant, user=owner), name="bench", scopes=["manage"]).full_key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    body = {"name": "nm", "dataset": dataset.pk, "recipe": "neumf", "params": params, "auto_deploy": "always"}
    client.post("/api/v1/models", body, format="json")

    def platform(number):
        run_id = client.post("/api/v1/models/nm/train", {}, format="json").json()["id"]
        # Waiting must not take CPU from the training it times (on a 2-core machine a run's API
        # read costs ~13 ms of CPU, five a second took ~6% of a core), so watch for the
        # deployment with one cheap query and ask the API only now and then about a failure.
        ask_api_at = time.monotonic() + API_CHECK_SECONDS
        while not Deployment.objects.filter(tenant=tenant, config__slug="nm", version__number=number).exists():
            if time.monotonic() >= ask_api_at:
                run = client.get(f"/api/v1/runs/{run_id}").json()
                if run["status"] in ("failed", "cancelled"):
                    raise SystemExit(f"platform run {run['status']}: {run['error']}")
                ask_api_at = time.monotonic() + API_CHECK_SECONDS
            time.sleep(0.25)

    # Alternate the two, so that both see the same machine load; the first round also pays
    # for importing TensorFlow (in this process, and in the worker's pool process).
    times = {"direct": [], "platform": []}
    try:
        for round_number in range(1, args.rounds + 1):
            for name, work in (("direct", direct), ("platform", lambda n=round_number: platform(n))):
                started = time.perf_counter()
                work()
                times[name].append(time.perf_counter() - started)
                print(f"round {round_number} {name:<9} {times[name][-1]:6.1f} s", flush=True)
    finally:
        worker.terminate()
        worker.wait(30)
    warm = slice(1, None) if args.rounds > 1 else slice(None)
    direct_s, platform_s = min(times["direct"][warm]), min(times["platform"][warm])
    print(f"best warm round: direct {direct_s:.1f} s, platform {platform_s:.1f} s (API call to deployed version)")
    print(f"ratio platform/direct: {platform_s / direct_s:.3f}  (target <= 1.15)")


if __name__ == "__main__":
    main()
