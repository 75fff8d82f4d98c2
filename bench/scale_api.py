"""The API-level tiers of ``bench/scale.py``: import, automatic training, deploy, serve and batch over HTTP."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "bench_scale"
POLL_SECONDS = 0.5


def run_api_tiers(args, tiers: dict, generate) -> int:
    results = []
    for name in args.tiers.split(","):
        results.append(_run_tier(name, tiers[name], generate, args))
        print(json.dumps(results[-1]), flush=True)
    _table(results)
    return 0


def _environment(storage: str, redis_db: int) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
        "REDIS_URL": f"redis://127.0.0.1:6379/{redis_db}",
        "STORAGE_ROOT": storage,
        "DJANGO_SETTINGS_MODULE": "saas_platform.settings",
        "LOG_LEVEL": "WARNING",
        "OPENBLAS_NUM_THREADS": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }


def _setup(environment: dict, plan_seconds: int | None) -> str:
    """A fresh database with one tenant on the default plan; returns an API key with every scope."""
    sys.path.insert(0, str(ROOT))
    from bench.common import flush_redis, fresh_database

    fresh_database(DB_NAME)
    flush_redis(int(environment["REDIS_URL"].rsplit("/", 1)[1]))
    script = (
        "import django; django.setup()\n"
        "from django.core.management import call_command; call_command('migrate', verbosity=0)\n"
        "from tenants.audit import Actor\n"
        "from tenants.services import create_tenant, get_or_create_user, issue_api_key\n"
        "owner = get_or_create_user(username='bench')\n"
        "tenant = create_tenant(name='Scale', owner=owner)\n"
        f"seconds = {plan_seconds!r}\n"
        "if seconds: tenant.plan.training_time_limit_seconds = seconds; tenant.plan.save()\n"
        "key = issue_api_key(actor=Actor(tenant=tenant, user=owner), name='bench',"
        " scopes=['manage', 'ingest', 'recommend'])\n"
        "print(key.full_key)\n"
    )
    output = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=environment, check=True,
                            capture_output=True, text=True).stdout  # fmt: skip
    return output.strip().splitlines()[-1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(child) for child in found]


def _status_mb(pid: int, field: str) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+) kB", status).group(1)) / 1024


def _reset_peak(pid: int) -> None:
    """Reset the process's peak RSS (VmHWM), so the next reading is this phase's peak."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def _run_tier(name: str, shape: dict, generate, args) -> dict:
    import httpx
    import numpy as np

    storage = tempfile.mkdtemp(prefix="bench-scale-")
    environment = _environment(storage, args.redis_db)
    key = _setup(environment, args.plan_seconds)
    frame = generate(**shape)
    upload = Path(storage) / "interactions.csv"
    frame.to_csv(upload, index=False)
    # Drawn with replacement: a small tier has fewer items than calls.
    sample_users = frame["user_id"].drop_duplicates().sample(args.calls, replace=True, random_state=1).tolist()
    sample_items = frame["item_id"].drop_duplicates().sample(args.calls, replace=True, random_state=2).tolist()
    distinct_items = int(frame["item_id"].nunique())
    del frame
    port = _free_port()
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "saas_platform", "worker", "--queues", "default,training,imports",
         "--concurrency", "1", "--loglevel", "WARNING"],
        cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "saas_platform.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--timeout", "600", "--log-level", "warning"],
        cwd=ROOT, env=environment,
    )  # fmt: skip
    result = {"tier": name, **shape, "distinct_items": distinct_items}
    try:
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Api-Key {key}"},
                              timeout=600)  # fmt: skip
        _wait(lambda: _healthy(client), 60, "gunicorn")
        child = _wait(lambda: (_children(worker.pid) or [None])[0], 60, "the worker's child process")

        def peak():
            return round(_status_mb(child, "VmHWM"))

        dataset = client.post("/api/v1/datasets", json={"name": "events", "kind": "interactions"}).json()["id"]
        _reset_peak(child)
        started = time.perf_counter()
        with upload.open("rb") as body:
            job = client.post(f"/api/v1/datasets/{dataset}/imports", files={"file": ("events.csv", body, "text/csv")})
        job = job.json()
        job = _wait(lambda: _done(client.get(f"/api/v1/imports/{job['id']}").json()), 7200, "the import")
        result["import_seconds"] = round(time.perf_counter() - started, 1)
        result["import_status"] = job["status"]
        result["import_peak_rss_mb"] = peak()

        assert client.post("/api/v1/models", json={"name": "scale", "dataset": dataset}).status_code == 201
        _reset_peak(child)
        started = time.perf_counter()
        run = client.post("/api/v1/models/scale/train", json={}).json()
        run = _wait(lambda: _done(client.get(f"/api/v1/runs/{run['id']}").json()), 7200, "the training run")
        result["training_seconds"] = round(time.perf_counter() - started, 1)
        result["training_status"] = run["status"]
        result["training_error"] = run.get("error") or ""
        result["training_peak_rss_mb"] = peak()
        result["chosen"] = run["recipe"]
        selection = run.get("selection") or {}
        result["candidates"] = {c["recipe"]: c.get("score") if c.get("score") is not None else c["status"]
                                for c in selection.get("candidates", [])}  # fmt: skip
        result["tuning"] = selection.get("tuning")

        latency = {}
        for call, path, ids in (
            ("recommend", "/api/v1/models/scale/recommendations?k=10&user_id=", sample_users),
            ("similar_items", "/api/v1/models/scale/similar-items?k=10&item_id=", sample_items),
        ):
            first = client.get(path + ids[0])  # loads the model into the web worker
            if first.status_code != 200:
                latency[call] = {"status": first.status_code, "error": first.json().get("error", {}).get("code")}
                continue
            timings = []
            for value in ids[: args.calls]:
                begun = time.perf_counter()
                client.get(path + value).raise_for_status()
                timings.append(time.perf_counter() - begun)
            latency[call] = {"p50_ms": round(float(np.percentile(timings, 50)) * 1000, 2),
                             "p99_ms": round(float(np.percentile(timings, 99)) * 1000, 2)}  # fmt: skip
        result["latency"] = latency
        result["web_worker_rss_mb"] = round(_status_mb(_children(web.pid)[0], "VmRSS"))

        body = {"k": 10, "format": "jsonl"}
        if args.batch_users:
            body["user_ids"] = list(dict.fromkeys(sample_users))[: args.batch_users]
        _reset_peak(child)
        started = time.perf_counter()
        batch = client.post("/api/v1/models/scale/batch-recommendations", json=body)
        if batch.status_code != 202:
            result["batch"] = {"status": batch.status_code, "error": batch.json()}
        else:
            batch = _wait(lambda: _done(client.get(f"/api/v1/batch-jobs/{batch.json()['id']}").json()), 7200,
                          "the batch job")  # fmt: skip
            seconds = time.perf_counter() - started
            result["batch"] = {"status": batch["status"], "users": batch["users_total"], "seconds": round(seconds, 1),
                               "users_per_second": round(batch["users_total"] / seconds, 1),
                               "peak_rss_mb": peak()}  # fmt: skip
    finally:
        for process in (web, worker):
            process.terminate()
        for process in (web, worker):
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(storage, ignore_errors=True)
    return result


def _healthy(client):
    try:
        return client.get("/health").status_code < 500
    except Exception:  # noqa: BLE001 - not listening yet
        return False


def _done(record: dict):
    return record if record["status"] in ("succeeded", "failed", "cancelled") else None


def _wait(probe, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(POLL_SECONDS)
    raise SystemExit(f"{what} did not finish within {seconds} s")


def _exponent(results, index, field):
    a, b = results[index - 1], results[index]
    if not a.get(field) or not b.get(field):
        return ""
    return f"{math.log(b[field] / a[field]) / math.log(b['interactions'] / a['interactions']):.2f}"


def _table(results) -> None:
    print(
        "\n| tier | interactions | users | items | import s (exp.) | training s (exp.) | chosen "
        "| worker peak RSS MB import / training / batch | web worker RSS MB | recommend p50 / p99 ms "
        "| similar p50 / p99 ms | batch users/s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for index, result in enumerate(results):
        latency, batch = result.get("latency", {}), result.get("batch", {})
        cells = [f"{latency[c]['p50_ms']:.1f} / {latency[c]['p99_ms']:.1f}" if "p50_ms" in latency.get(c, {})
                 else "–" for c in ("recommend", "similar_items")]  # fmt: skip
        import_exp = _exponent(results, index, "import_seconds") if index else ""
        train_exp = _exponent(results, index, "training_seconds") if index else ""
        print(
            f"| {result['tier']} | {result['interactions']:,} | {result['users']:,} | {result['distinct_items']:,} "
            f"| {result['import_seconds']:.0f}{f' ({import_exp})' if import_exp else ''} "
            f"| {result['training_seconds']:.0f}{f' ({train_exp})' if train_exp else ''} | {result['chosen']} "
            f"| {result['import_peak_rss_mb']} / {result['training_peak_rss_mb']} / {batch.get('peak_rss_mb', '–')} "
            f"| {result['web_worker_rss_mb']} | {cells[0]} | {cells[1]} | {batch.get('users_per_second', '–')} |"
        )
