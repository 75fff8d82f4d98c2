"""Soak: minutes of mixed traffic on loopback, with training and imports at the same time; nothing lost.

    .venv/bin/python bench/soak.py [--minutes 5] [--rate 30] [--clients 4] [--keep]

Everything runs on 127.0.0.1 and is bounded in time and count:

1. A throwaway PostgreSQL database (``soak``) and a private ``redis-server`` on a free
   port; migrations; one tenant with an all-scopes key and a plan whose limits stay
   out of the way; 60,000 generated interactions and a 1,500-item catalogue.
2. gunicorn with the production settings (DEBUG=0, SECRET_KEY set, no SSL redirect,
   ALLOWED_HOSTS=127.0.0.1, one BLAS thread, two workers) and one Celery worker on
   all queues; a first EASE model ``recs`` is trained and deployed through the API.
3. For ``--minutes``: ``--clients`` threads send ``--rate`` requests a second between
   them, on a fixed schedule: recommendations (60%), similar items (10%) and event
   batches of 20 with unique event ids (30%). Beside them, an import of 10,000 rows
   every minute, a NeuMF model (8 epochs, about a minute) trained from the start,
   and ``recs`` retrained (and redeployed) half way.
4. At the end: every 5xx and transport error is counted, every event the API
   accepted is looked for in the database, and p50/p99 per endpoint are printed.

Exit status 1 when any answer was a 5xx, any request failed at the transport
level, or any accepted event is missing. The database is dropped unless --keep.
"""

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import fresh_database  # noqa: E402

DB_NAME = "soak"
SECRET = "soak-only-secret-" + "s" * 50
USERS, ITEMS, EVENTS_PER_USER = 2_000, 1_500, 30
EVENT_BATCH = 20
MIX = (("recommendations", 0.6), ("similar-items", 0.1), ("events", 0.3))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def production_env(redis_url, storage):
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "saas_platform.settings",
        "DEBUG": "0",
        "SECRET_KEY": SECRET,
        "SECURE_SSL_REDIRECT": "0",
        "EMAIL_CONSOLE_OPT_IN": "1",
        "ALLOWED_HOSTS": "127.0.0.1",
        "OPENBLAS_NUM_THREADS": "1",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "STORAGE_ROOT": str(storage),
        "LOG_LEVEL": "WARNING",
    }


def wait_for(predicate, timeout, what):
    """Poll ``predicate`` every half second for up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise SystemExit(f"soak: timed out after {timeout}s waiting for {what}")


# --- set-up -------------------------------------------------------------------------------------------------


def prepare_database():
    """Migrate the throwaway database and create the tenant; returns ``(tenant id, key, dataset id)``."""
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from bench.common import store_interactions
    from recommender.data.models import Item
    from recommender.data.services import create_dataset
    from tenants.audit import Actor
    from tenants.models import Plan
    from tenants.services import create_tenant, get_or_create_user, issue_api_key

    plan, _ = Plan.objects.get_or_create(
        name="soak", defaults={"max_rows": 10**9, "api_requests_per_minute": 10**6, "max_training_runs_per_day": 100}
    )
    tenant = create_tenant(name="Soak", owner=get_or_create_user(username="soak-owner"), plan=plan)
    actor = Actor.system(tenant)
    dataset = create_dataset(actor=actor, name="clicks", kind="interactions")
    key = issue_api_key(actor=actor, name="soak", scopes=["recommend", "ingest", "manage"]).full_key
    rng = random.Random(5)
    import pandas as pd

    rows = [
        (f"u{user}", f"i{(user % 50) * 30 + rng.randrange(30) if rng.random() < 0.8 else rng.randrange(ITEMS)}",
         1_700_000_000 + user * 100 + step)
        for user in range(USERS) for step in range(EVENTS_PER_USER)
    ]  # fmt: skip
    store_interactions(tenant, dataset, pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]))
    Item.objects.bulk_create(Item(tenant=tenant, item_id=f"i{n}", title=f"Item {n}") for n in range(ITEMS))
    from recommender.data.models import Dataset

    Dataset.objects.for_tenant(tenant).filter(pk=dataset.pk).update(row_count=len(rows))
    return tenant.pk, key, dataset.pk


class Processes:
    """The servers of the soak; ``stop()`` ends every one it started."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.started = []

    def start(self, name, command, env):
        log = open(self.workdir / f"{name}.log", "w")  # noqa: SIM115 - closed by the process's end
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.started.append((name, process))
        return process

    def log(self, name):
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def stop(self):
        for _, process in reversed(self.started):
            if process.poll() is None:
                process.terminate()
        for _, process in self.started:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


# --- traffic ------------------------------------------------------------------------------------------------


class Record:
    """What every request got: status (or the transport error) and latency, by endpoint; events accepted."""

    def __init__(self):
        self.lock = threading.Lock()
        self.latencies = defaultdict(list)
        self.statuses = defaultdict(lambda: defaultdict(int))
        self.errors = defaultdict(list)
        self.accepted_events = set()
        self.unacknowledged_events = set()

    def add(self, endpoint, status, seconds):
        with self.lock:
            self.latencies[endpoint].append(seconds)
            self.statuses[endpoint][status] += 1


def call(session, record, endpoint, method, url, **kwargs):
    started = time.monotonic()
    try:
        response = session.request(method, url, timeout=30, **kwargs)
    except requests.RequestException as exc:
        record.add(endpoint, "transport error", time.monotonic() - started)
        with record.lock:
            record.errors[endpoint].append(repr(exc)[:200])
        return None
    record.add(endpoint, response.status_code, time.monotonic() - started)
    if response.status_code >= 500:
        with record.lock:
            record.errors[endpoint].append(response.text[:300])
    return response


def client_loop(base, key, record, deadline, interval, seed, number):
    """Requests on a fixed schedule (one every ``interval`` s) until ``deadline``."""
    rng = random.Random(seed)
    session = requests.Session()
    session.headers["Authorization"] = f"Api-Key {key}"
    next_at, sent = time.monotonic(), 0
    while next_at < deadline:
        time.sleep(max(0.0, next_at - time.monotonic()))
        next_at += interval
        endpoint = rng.choices([name for name, _ in MIX], [weight for _, weight in MIX])[0]
        if endpoint == "recommendations":
            url = f"{base}/api/v1/models/recs/recommendations?user_id=u{rng.randrange(USERS + 200)}&k=10"
            call(session, record, endpoint, "GET", url)
        elif endpoint == "similar-items":
            call(
                session,
                record,
                endpoint,
                "GET",
                f"{base}/api/v1/models/recs/similar-items?item_id=i{rng.randrange(ITEMS)}&k=10",
            )
        else:
            ids = [f"soak-{number}-{sent + n}" for n in range(EVENT_BATCH)]
            sent += EVENT_BATCH
            events = [
                {"event_id": event_id, "user_id": f"u{rng.randrange(USERS)}", "item_id": f"i{rng.randrange(ITEMS)}",
                 "event_type": "view", "timestamp": time.time()}
                for event_id in ids
            ]  # fmt: skip
            response = call(session, record, endpoint, "POST", f"{base}/api/v1/events", json={"events": events})
            if response is not None and response.status_code == 200:
                rejected = {rejection["index"] for rejection in response.json()["rejected"]}
                with record.lock:
                    record.accepted_events.update(i for n, i in enumerate(ids) if n not in rejected)
            else:
                with record.lock:
                    record.unacknowledged_events.update(ids)


def background_work(base, key, dataset, record, deadline, minutes, outcomes):
    """A NeuMF training from the start, ``recs`` retrained half way, an import every minute (bounded)."""
    session = requests.Session()
    session.headers["Authorization"] = f"Api-Key {key}"
    api = f"{base}/api/v1"
    neumf = {"name": "deep", "slug": "deep", "dataset": dataset, "recipe": "neumf", "params": {"epochs": 8}}
    call(session, record, "models", "POST", f"{api}/models", json=neumf)
    runs = [call(session, record, "train", "POST", f"{api}/models/deep/train", json={})]
    imports, started = [], time.monotonic()
    retrained = False
    for number in range(max(1, int(minutes))):
        at = started + 10 + number * 60
        while time.monotonic() < at and time.monotonic() < deadline:
            if not retrained and time.monotonic() > started + (deadline - started) / 2:
                runs.append(call(session, record, "train", "POST", f"{api}/models/recs/train", json={}))
                retrained = True
            time.sleep(0.5)
        if time.monotonic() >= deadline:
            break
        lines = "".join(f"n{number}-{n % 700},i{n % ITEMS},{1_710_000_000 + n}\n" for n in range(10_000))
        upload = {"file": (f"more-{number}.csv", ("user_id,item_id,timestamp\n" + lines).encode())}
        imports.append(call(session, record, "imports", "POST", f"{api}/datasets/{dataset}/imports", files=upload))
    if not retrained:
        runs.append(call(session, record, "train", "POST", f"{api}/models/recs/train", json={}))
    outcomes["runs"] = [r.json()["id"] for r in runs if r is not None and r.status_code == 202]
    outcomes["imports"] = [r.json()["id"] for r in imports if r is not None and r.status_code == 202]


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


# --- the run --------------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=30.0, help="requests a second, all clients together")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the database and logs")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="soak-"))
    redis_port = free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    env = production_env(redis_url, workdir / "storage")
    os.environ.update({k: env[k] for k in ("DJANGO_SETTINGS_MODULE", "DEBUG", "SECRET_KEY", "DATABASE_URL",
                                           "REDIS_URL", "CELERY_BROKER_URL", "STORAGE_ROOT", "ALLOWED_HOSTS",
                                           "SECURE_SSL_REDIRECT", "LOG_LEVEL", "EMAIL_CONSOLE_OPT_IN")})  # fmt: skip
    processes = Processes(workdir)
    try:
        processes.start("redis", ["redis-server", "--bind", "127.0.0.1", "--port", str(redis_port), "--save", "",
                                  "--appendonly", "no", "--dir", str(workdir)], env)  # fmt: skip
        fresh_database(DB_NAME)
        print("soak: migrating and loading a tenant", flush=True)
        tenant_id, key, dataset = prepare_database()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        gunicorn = [sys.executable, "-m", "gunicorn", "saas_platform.wsgi:application", "--bind", f"127.0.0.1:{port}",
                    "--workers", str(args.web_workers), "--timeout", "60"]  # fmt: skip
        processes.start("gunicorn", gunicorn, env)
        processes.start("worker", [sys.executable, "-m", "celery", "-A", "saas_platform", "worker", "--queues",
                                   "default,training,imports", "--concurrency", "1", "--loglevel", "WARNING",
                                   "--without-mingle", "--without-gossip"], env)  # fmt: skip
        wait_for(lambda: _answers(f"{base}/health"), 90, "gunicorn")
        session = requests.Session()
        session.headers["Authorization"] = f"Api-Key {key}"
        created = session.post(f"{base}/api/v1/models", json={"name": "recs", "slug": "recs", "dataset": dataset,
                                                               "recipe": "ease"}, timeout=30)  # fmt: skip
        assert created.status_code == 201, created.text
        run = session.post(f"{base}/api/v1/models/recs/train", json={}, timeout=30).json()["id"]
        wait_for(lambda: _finished(session, f"{base}/api/v1/runs/{run}"), 300, "the first model")
        print(f"soak: {args.minutes:g} min at {args.rate:g} requests/s from {args.clients} clients", flush=True)

        record, outcomes = Record(), {}
        deadline = time.monotonic() + args.minutes * 60
        interval = args.clients / args.rate
        threads = [
            threading.Thread(target=client_loop, args=(base, key, record, deadline, interval, 100 + n, n))
            for n in range(args.clients)
        ]
        work = (base, key, dataset, record, deadline, args.minutes, outcomes)
        threads.append(threading.Thread(target=background_work, args=work))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        # Work still running on the worker may finish (bounded); what matters after is what was stored.
        for run_id in outcomes.get("runs", []):
            wait_for(lambda r=run_id: _finished(session, f"{base}/api/v1/runs/{r}"), 600, f"run {run_id}")
        for job_id in outcomes.get("imports", []):
            wait_for(lambda j=job_id: _finished(session, f"{base}/api/v1/imports/{j}"), 300, f"import {job_id}")
        background = {
            "runs": [session.get(f"{base}/api/v1/runs/{r}", timeout=30).json() for r in outcomes.get("runs", [])],
            "imports": [
                session.get(f"{base}/api/v1/imports/{j}", timeout=30).json() for j in outcomes.get("imports", [])
            ],
        }
        stored = _stored_event_ids(tenant_id)
        return report(args, record, stored, background, processes)
    finally:
        processes.stop()
        if not args.keep:
            _drop_database()
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"soak: kept database {DB_NAME} and logs in {workdir}")


def _answers(url):
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _finished(session, url):
    status = session.get(url, timeout=30).json().get("status")
    return status if status in ("succeeded", "failed", "cancelled") else None


def _stored_event_ids(tenant_id):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT event_id FROM data_interaction WHERE tenant_id = %s AND event_id LIKE 'soak-%%'", [tenant_id]
        )
        return {row[0] for row in cursor.fetchall()}


def _drop_database():
    from django.db import connections

    connections.close_all()
    import psycopg2

    connection = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres")
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    connection.close()


def report(args, record, stored, background, processes):
    """Print the figures; return the exit status (1 on any 5xx, transport error or lost event)."""
    print(f"\nsoak: {args.minutes:g} min, {args.rate:g} req/s target, {args.clients} clients, "
          f"{args.web_workers} gunicorn workers, 1 Celery worker, {os.cpu_count()} CPUs")  # fmt: skip
    print("| endpoint | requests | 2xx | 4xx | 5xx | transport errors | p50 ms | p99 ms | max ms |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    server_errors = transport_errors = 0
    for endpoint in sorted(record.latencies):
        statuses, latencies = record.statuses[endpoint], record.latencies[endpoint]
        ok = sum(n for s, n in statuses.items() if isinstance(s, int) and s < 300)
        client = sum(n for s, n in statuses.items() if isinstance(s, int) and 400 <= s < 500)
        server = sum(n for s, n in statuses.items() if isinstance(s, int) and s >= 500)
        transport = statuses.get("transport error", 0)
        server_errors, transport_errors = server_errors + server, transport_errors + transport
        print(f"| {endpoint} | {len(latencies)} | {ok} | {client} | {server} | {transport} | "
              f"{percentile(latencies, 0.5) * 1000:.1f} | {percentile(latencies, 0.99) * 1000:.1f} | "
              f"{max(latencies) * 1000:.1f} |")  # fmt: skip
    lost = record.accepted_events - stored
    print(f"\nevents accepted: {len(record.accepted_events)}, found in the database: "
          f"{len(record.accepted_events & stored)}, lost: {len(lost)}; "
          f"unacknowledged batches' events stored anyway: {len(record.unacknowledged_events & stored)}")  # fmt: skip
    for run in background["runs"]:
        print(f"training run {run['id']} ({run['model']}, {run['recipe']}): {run['status']} in "
              f"{run.get('duration_seconds') or 0:.1f} s, version {run.get('version')}")  # fmt: skip
    for job in background["imports"]:
        print(f"import {job['id']}: {job['status']}, {job['rows_loaded']} rows")
    for endpoint, errors in record.errors.items():
        print(f"first errors of {endpoint}: {json.dumps(errors[:3])}")
    failed_background = [w for w in background["runs"] + background["imports"] if w["status"] != "succeeded"]
    failures = server_errors + transport_errors + len(lost) + len(failed_background)
    verdict = "PASS" if not failures else "FAIL"
    print(f"\nsoak: {verdict} (5xx: {server_errors}, transport errors: {transport_errors}, "
          f"lost events: {len(lost)}, failed background work: {len(failed_background)})")  # fmt: skip
    if failures:
        print("gunicorn log tail:\n" + processes.log("gunicorn")[-3000:])
        print("worker log tail:\n" + processes.log("worker")[-3000:])
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
