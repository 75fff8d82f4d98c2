"""What closing the loop costs a recommendation, in one run: the service with and without its feedback hooks.

    .venv/bin/python bench/loop.py [--items 5000] [--rounds 7] [--calls 2000]
    .venv/bin/python bench/loop.py --market [--seeds 3] [--users 300] [--items 200]   (the simulated market:
        see bench/loop_market.py)

Creates a throwaway PostgreSQL database (bench_loop) with one tenant, an EASE
model on ``--items`` items, and a running 50/50 experiment between two versions.
It then times ``recommender.serving.services.recommend`` in interleaved rounds:

- bare: the hooks replaced by what serving did before (the deployed version, no id, no impression);
- hooks: as shipped, on the same model without an experiment (id + impression);
- bare (tested) and experiment: the same pair on a model with a running experiment (arm routing too).

and prints calls per second (wall clock, and per CPU-second of this process, all
threads: the measure a shared machine disturbs least) and each as a ratio of its
bare reference (medians of the rounds; the variants take turns at running first).
The impression flusher thread runs meanwhile, as in a web process, and each round
ends with a flush so that its work is counted.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import flush_redis, fresh_database, store_interactions  # noqa: E402

DB_NAME = "bench_loop"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--market", action="store_true", help="run the simulated market (bench/loop_market.py)")
    parser.add_argument("--seeds", type=int, default=3, help="market: full repetitions through the API")
    parser.add_argument("--users", type=int, default=300, help="market: users per repetition")
    parser.add_argument("--per-user", type=int, default=10, help="market: history events per user")
    parser.add_argument("--market-rounds", type=int, default=4, dest="market_rounds", help="market: rounds a phase")
    parser.add_argument("--repetitions", type=int, default=1000, help="market: statistical replays per seed")
    parser.add_argument("--replay-impressions", type=int, default=40_000, dest="replay_impressions",
                        help="market: impressions an arm in each replay (14 daily looks)")  # fmt: skip
    args = parser.parse_args()
    if args.market:
        from bench import loop_market

        args.rounds = args.market_rounds
        args.items = args.items if args.items != 5000 else 1000
        return loop_market.main(args)
    fresh_database(DB_NAME)
    flush_redis(int(os.environ.get("BENCH_REDIS_DB", "12")))
    os.environ.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
        REDIS_URL=f"redis://127.0.0.1:6379/{os.environ.get('BENCH_REDIS_DB', '12')}",
        OPENBLAS_NUM_THREADS="1",
        CELERY_TASK_ALWAYS_EAGER="1",
        LOG_LEVEL="WARNING",
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saas_platform.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from recommender.data.models import Dataset
    from recommender.feedback import impressions
    from recommender.feedback import serving as feedback
    from recommender.feedback.services import start_experiment
    from recommender.ml.synthetic import generate_interactions
    from recommender.serving import services
    from recommender.serving.loader import served_model
    from recommender.training.models import ModelVersion, TrainingRun
    from recommender.training.services.configs import create_config
    from recommender.training.services.runs import request_training
    from tenants.audit import Actor
    from tenants.models import Plan
    from tenants.services import create_tenant, get_or_create_user

    plan = Plan.objects.create(name="bench", max_training_runs_per_day=100)
    owner = get_or_create_user(username="bench")
    tenant = create_tenant(name="Bench", owner=owner, plan=plan)
    actor = Actor(tenant=tenant, user=owner)
    data = generate_interactions(n_users=args.items * 2, n_items=args.items, n_clusters=20, mean_items_per_user=15)
    dataset = Dataset.objects.create(tenant=tenant, name="events", kind="interactions")
    store_interactions(tenant, dataset, data.interactions)
    configs = {}
    for slug, runs in (("plain", 1), ("tested", 2)):
        # EASE: what "auto" keeps at this size, without its minutes of comparing candidates.
        configs[slug] = create_config(actor=actor, name=slug, slug=slug, dataset=dataset, recipe="ease")
        for _ in range(runs):
            run = TrainingRun.objects.for_tenant(tenant).get(pk=request_training(actor=actor, config=configs[slug]).pk)
            assert run.status == "succeeded", run.error
    versions = {version.number: version for version in ModelVersion.objects.filter(config=configs["tested"])}
    start_experiment(
        actor=actor, name="bench", config=configs["tested"], metric="ctr",
        arms=[{"name": "a", "config": configs["tested"], "version": versions[1], "split": 50, "is_control": True},
              {"name": "b", "config": configs["tested"], "version": versions[2], "split": 50}],
    )  # fmt: skip
    users = sorted(set(data.interactions.user_id))[:500]

    shipped_route, shipped_record = feedback.route, feedback.record_impression

    def bare_route(tenant, slug, user_id):
        served = served_model(tenant, slug)
        return feedback.RoutedModel(*feedback._fields(served), tenant_id=tenant.pk)

    def timed(slug, bare):
        feedback.route = bare_route if bare else shipped_route
        feedback.record_impression = (lambda *a: "") if bare else shipped_record
        try:
            started, cpu = time.perf_counter(), time.process_time()
            for call in range(args.calls):
                services.recommend(tenant, slug, users[call % len(users)], k=10)
            impressions.flush()  # the flusher thread's share of the work is counted too
            return args.calls / (time.perf_counter() - started), args.calls / (time.process_time() - cpu)
        finally:
            feedback.route, feedback.record_impression = shipped_route, shipped_record

    for slug in ("plain", "tested"):  # warm: scorers loaded, caches filled
        timed(slug, bare=False)
    results = {"bare": [], "hooks": [], "bare (tested)": [], "experiment": []}
    runs = {
        "bare": ("plain", True),
        "hooks": ("plain", False),
        "bare (tested)": ("tested", True),
        "experiment": ("tested", False),
    }
    order = list(runs)
    for round_number in range(args.rounds):
        # Each round starts with another variant, so no variant always runs first (or last).
        for name in order[round_number % 4 :] + order[: round_number % 4]:
            results[name].append(timed(*runs[name]))
    print(f"recommend() in-process, {args.items} items, {args.rounds} rounds of {args.calls} calls (median):")
    for name, reference in (("bare", "bare"), ("hooks", "bare"), ("bare (tested)", "bare (tested)"),
                            ("experiment", "bare (tested)")):  # fmt: skip
        wall, cpu = (statistics.median(run[i] for run in results[name]) for i in (0, 1))
        wall_ratio = wall / statistics.median(run[0] for run in results[reference])
        cpu_ratio = cpu / statistics.median(run[1] for run in results[reference])
        print(
            f"  {name:<14} {wall:6.0f} calls/s wall {wall_ratio:6.3f} × {reference:<14}"
            f" {cpu:6.0f} calls per CPU-second {cpu_ratio:6.3f} ×"
        )


if __name__ == "__main__":
    main()
