"""Ingest benchmark: file imports against a bare ``psql \\copy``, and the events API through gunicorn.

Run by hand (never in tests), against PostgreSQL and Redis:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/saas_platform REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/ingest.py [--rows 1000000] [--measure-memory] [--events-seconds 20]

1. Writes an interactions CSV of ``--rows`` rows, imports it through the platform's
   import job (staging, validation, COPY, merge, statistics) for a throwaway tenant,
   and loads the same file with ``psql \\copy`` into a bare table; prints rows/s of both
   and their ratio. ``--measure-memory`` runs the import in a child process and
   reports its peak resident memory.
2. Starts gunicorn with production settings on 127.0.0.1 and posts batches of 500
   events from client processes for ``--events-seconds``; prints accepted events/s.

The throwaway tenant and the bare table are removed at the end.
"""

import argparse
import json
import multiprocessing
import os
import random
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saas_platform.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/saas_platform")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")

EVENTS_PER_BATCH = 500
# Settings as in production (no query log, no debug pages) for the import process and the web server.
PRODUCTION_ENV = {
    **os.environ,
    "DEBUG": "0",
    "SECRET_KEY": "bench-secret-key-not-for-production-0123456789abcdefghijklmnop",
    "SECURE_SSL_REDIRECT": "0",
    "EMAIL_CONSOLE_OPT_IN": "1",
    "ALLOWED_HOSTS": "127.0.0.1",
    "LOG_LEVEL": "WARNING",
}


def write_interactions_csv(path, rows, seed=0):
    """Interactions with 100k users, 20k items, Unix-second timestamps, event types and some values."""
    rng = random.Random(seed)
    event_types = ["view", "view", "view", "click", "buy"]
    with open(path, "w") as out:
        out.write("user_id,item_id,timestamp,event_type,value\n")
        for start in range(0, rows, 100_000):
            lines = []
            for n in range(start, min(rows, start + 100_000)):
                kind = event_types[rng.randrange(5)]
                value = f"{rng.uniform(1, 200):.2f}" if kind == "buy" else ""
                lines.append(
                    f"user-{rng.randrange(100_000)},item-{rng.randrange(20_000)},{1_600_000_000 + n},{kind},{value}\n"
                )
            out.write("".join(lines))


def setup_django():
    import django

    django.setup()


def make_tenant():
    from recommender.data.services import create_dataset
    from tenants.audit import Actor
    from tenants.models import Plan
    from tenants.services import create_tenant, get_or_create_user, issue_api_key

    owner = get_or_create_user(username="bench-owner")
    plan, _ = Plan.objects.get_or_create(
        name="bench", defaults={"max_rows": 10**10, "max_upload_bytes": 10**11, "api_requests_per_minute": 10**7}
    )
    tenant = create_tenant(name=f"Bench {time.time_ns()}", owner=owner, plan=plan)
    actor = Actor.system(tenant)
    dataset = create_dataset(actor=actor, name="bench clicks", kind="interactions")
    key = issue_api_key(actor=actor, name="bench", scopes=["ingest"]).full_key
    return tenant, dataset, key


def queue_import(tenant, dataset, csv_path):
    """Store the file and create its job (untimed: the bare COPY does not upload either)."""
    from django.core.files import File
    from django.core.files.storage import default_storage

    from recommender.data.models import ImportJob

    with open(csv_path, "rb") as source:
        stored = default_storage.save(f"tenants/{tenant.pk}/uploads/bench-{time.time_ns()}", File(source))
    return ImportJob.objects.create(
        tenant=tenant,
        dataset=dataset,
        file_name=Path(csv_path).name,
        file_path=stored,
        file_size=os.path.getsize(csv_path),
        options={"on_error": "fail"},
    )


def run_import_job(tenant_id, job_id):
    """The import itself, as the worker runs it (used in a child process for --measure-memory)."""
    setup_django()
    from recommender.data.importing.runner import run_import

    job = run_import(job_id, tenant_id=tenant_id)
    if job.status != "succeeded":
        raise SystemExit(f"import failed: {job.message}")


def time_platform_import(tenant, dataset, csv_path, measure_memory):
    """Seconds of the import job (its own start to finish) and of the statistics that follow it."""
    from recommender.data.models import ImportJob
    from recommender.data.services import refresh_dataset_stats

    job = queue_import(tenant, dataset, csv_path)
    if measure_memory:
        subprocess.run(
            [sys.executable, __file__, "--run-import-job", str(tenant.pk), str(job.pk)], check=True, env=PRODUCTION_ENV
        )
    else:
        run_import_job(tenant.pk, job.pk)
    job = ImportJob.objects.for_tenant(tenant).get(pk=job.pk)
    assert job.status == "succeeded", job.message
    stats_started = time.perf_counter()
    refresh_dataset_stats(dataset)  # a follow-up task in production, timed here on its own
    stats_seconds = time.perf_counter() - stats_started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 if measure_memory else None
    return job.rows_loaded, (job.finished_at - job.started_at).total_seconds(), stats_seconds, peak_mb


def baseline_rss_mb():
    """Peak RSS of a process that only loads Django and the import code: what the import adds is above it."""
    code = (
        "import resource, sys; sys.argv = ['x']; import bench.ingest as b; b.setup_django(); "
        "import recommender.data.importing.runner; "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    return float(
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    )


def time_psql_copy(csv_path):
    url = os.environ["DATABASE_URL"]
    table = f"bench_bare_{os.getpid()}"

    def psql(command):
        subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-q", "-c", command], check=True)

    psql(f"CREATE TABLE {table} (user_id text, item_id text, ts bigint, event_type text, value float8)")
    try:
        started = time.perf_counter()
        psql(f"\\copy {table} FROM '{csv_path}' WITH (FORMAT csv, HEADER true)")
        return time.perf_counter() - started
    finally:
        psql(f"DROP TABLE {table}")


# --- Events API --------------------------------------------------------------------------------------


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(port, workers):
    gunicorn = Path(sys.executable).parent / "gunicorn"
    process = subprocess.Popen(
        [
            str(gunicorn),
            "saas_platform.wsgi",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=PRODUCTION_ENV,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)  # noqa: S310 - local only
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("gunicorn did not start")


def post_batches(port, key, seconds, client_number, results):
    """One client: keep posting batches of fresh events over one keep-alive connection."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Api-Key {key}", "Content-Type": "application/json"}
    rng = random.Random(client_number)
    accepted = batches = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        events = [
            {
                "user_id": f"user-{rng.randrange(100_000)}",
                "item_id": f"item-{rng.randrange(20_000)}",
                "event_type": "view",
                "timestamp": 1_700_000_000 + batches,
                "event_id": f"c{client_number}-b{batches}-{n}",
            }
            for n in range(EVENTS_PER_BATCH)
        ]
        connection.request("POST", "/api/v1/events", body=json.dumps({"events": events}), headers=headers)
        response = connection.getresponse()
        raw = response.read()
        if response.status != 200:
            print(f"client {client_number}: events API answered {response.status}: {raw[:300]!r}", flush=True)
            break
        accepted += json.loads(raw)["accepted"]
        batches += 1
    results.put(accepted)


def time_events_api(key, seconds, workers, clients):
    port = free_port()
    server = start_gunicorn(port, workers)
    try:
        results = multiprocessing.Queue()
        started = time.perf_counter()
        processes = [
            multiprocessing.Process(target=post_batches, args=(port, key, seconds, number, results))
            for number in range(clients)
        ]
        for process in processes:
            process.start()
        accepted = sum(results.get(timeout=seconds + 120) for _ in processes)
        for process in processes:
            process.join()
        return accepted, time.perf_counter() - started
    finally:
        os.killpg(server.pid, 15)
        server.wait(20)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--measure-memory", action="store_true")
    parser.add_argument("--events-seconds", type=float, default=20)
    parser.add_argument("--gunicorn-workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument("--run-import-job", type=int, nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_import_job:
        run_import_job(*args.run_import_job)
        return

    subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, check=True)
    setup_django()
    tenant, dataset, key = make_tenant()
    workdir = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        if not args.skip_import:
            csv_path = workdir / "interactions.csv"
            write_interactions_csv(csv_path, args.rows)
            size_mb = csv_path.stat().st_size / 1e6
            print(f"file: {args.rows:,} rows, {size_mb:.0f} MB")
            copy_seconds = time_psql_copy(csv_path)
            rows, seconds, stats_seconds, peak_mb = time_platform_import(tenant, dataset, csv_path, args.measure_memory)
            assert rows == args.rows, rows
            print(f"psql \\copy into a bare table: {copy_seconds:6.1f} s  {args.rows / copy_seconds:>10,.0f} rows/s")
            print(f"platform import job:          {seconds:6.1f} s  {args.rows / seconds:>10,.0f} rows/s")
            print(f"ratio platform/psql:          {copy_seconds / seconds:6.2f}")
            print(f"statistics (follow-up task):  {stats_seconds:6.1f} s")
            if peak_mb is not None:
                print(
                    f"peak RSS of the import process: {peak_mb:.0f} MB "
                    f"(Django and libraries alone: {baseline_rss_mb():.0f} MB)"
                )
        if args.events_seconds:
            accepted, seconds = time_events_api(key, args.events_seconds, args.gunicorn_workers, args.clients)
            print(
                f"events API: {accepted:,} events accepted in {seconds:.1f} s = {accepted / seconds:,.0f} events/s "
                f"({args.gunicorn_workers} gunicorn workers, {args.clients} clients, batches of {EVENTS_PER_BATCH})"
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        from tenants.models import Tenant

        Tenant.objects.filter(pk=tenant.pk).delete()


if __name__ == "__main__":
    main()
