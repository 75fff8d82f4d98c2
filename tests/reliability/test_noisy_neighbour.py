"""A noisy neighbour: tenant B runs every abuse of issue 14 at its plan's limits while tenant A works.

A's recommendations keep p99 ≤ 50 ms and A's 10,000-row import and default (EASE) training finish within
twice their time alone; nothing of B's exceeds its plan. Real gunicorn and Celery processes, production
settings. Long: marked ``reliability``. The figures are the platform's promise, so they are asserted.

A's recommendations are timed from a process of their own (``latency_probe``), with a ``/health`` call
beside each as the bare reference of the same seconds; the printed figures (docs/benchmarks.md) say how
much of a miss is the machine's. Timed in this process they also counted the GIL that the thread
playing B held (931 ms at p99 where the server had answered in 72 ms).
"""

import gzip
import json
import subprocess
import sys
import threading
import time

import pytest

from recommender.data.models import Interaction
from recommender.serving.models import BatchJob
from recommender.training.models import TrainingRun
from tenants.models import SELF_SERVICE_LIMITS, Plan
from tenants.quotas import quota_use

from ..factories import make_interactions_dataset
from ..serving.conftest import train_model
from ..worker import wait_until
from .stack import ROOT, Gunicorn, Timed, production_env, worker

pytestmark = pytest.mark.reliability

RECOMMEND_PATH = "/api/v1/models/recs/recommendations"
IMPORT_ROWS = 10_000


def _clicks(rows):
    return "user_id,item_id,timestamp\n" + "".join(
        f"u{n % 500},i{(n * 7) % 300},{1_700_000_000 + n}\n" for n in range(rows)
    )


def _p99(durations):
    ordered = sorted(durations)
    return ordered[max(0, int(len(ordered) * 0.99) - 1)]


def _recommend_for(web, key, seconds):
    """A's application asking for recommendations for ``seconds``, from a process of its own; returns each
    call's duration as A saw it, as the server spent it (its access log), and the bare reference's
    (``/health`` calls between them: one database round trip through the same processes)."""
    before = len(web.access_times(RECOMMEND_PATH))
    probe = subprocess.run(
        [sys.executable, "-m", "tests.reliability.latency_probe", web.base, key, str(seconds)],
        cwd=ROOT, capture_output=True, text=True, timeout=seconds + 120, check=False,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr[-3000:] + probe.stdout[-500:]
    seen = json.loads(probe.stdout)
    return seen["recommend"], web.access_times(RECOMMEND_PATH)[before:], seen["health"]


def _import_and_train(client):
    """A's 10,000-row import, then a default training run; returns (import seconds, training seconds)."""
    dataset = client.call("POST", "/api/v1/datasets", json={"name": f"d{time.monotonic_ns()}", "kind": "interactions"})
    started = time.monotonic()
    job = client.call(
        "POST", f"/api/v1/datasets/{dataset.json()['id']}/imports", files={"file": ("a.csv", _clicks(IMPORT_ROWS))}
    ).json()
    wait_until(lambda: client.call("GET", f"/api/v1/imports/{job['id']}").json()["status"] == "succeeded", 300)
    imported = time.monotonic() - started
    slug = f"m{time.monotonic_ns()}"
    client.call("POST", "/api/v1/models", json={"name": slug, "slug": slug, "dataset": dataset.json()["id"]})
    started = time.monotonic()
    run = client.call("POST", f"/api/v1/models/{slug}/train", json={}).json()
    wait_until(lambda: client.call("GET", f"/api/v1/runs/{run['id']}").json()["status"] == "succeeded", 600)
    return imported, time.monotonic() - started


def _abuse(client, stop):
    """B, at its plan's limits, over and over until ``stop``: every finding of issue 14."""
    dataset = client.call("POST", "/api/v1/datasets", json={"name": "abuse", "kind": "items"}).json()["id"]
    wide = [{"user_id": f"u{n}", "item_id": "i1", **{f"k{n}_{key}": 1 for key in range(300)}} for n in range(300)]
    # Serialised once: a 1.2 MB json.dumps in every round held this process's GIL for A's probe, when it ran here.
    wide_body = json.dumps({"events": wide}).encode()
    bomb = gzip.compress(b"user_id,item_id\n" + b"u1,i1\n" * 3_000_000)
    long_line = gzip.compress(b'{"item_id": "' + b"x" * (50 * 1024 * 1024) + b'"}\n')
    while not stop.is_set():
        client.session.post(client.base + "/api/v1/events", data=wide_body, timeout=30,
                            headers={"Content-Type": "application/json"})  # fmt: skip
        imports = f"/api/v1/datasets/{dataset}/imports"
        client.call("POST", imports, files={"file": ("rows.csv.gz", bomb)}, timeout=30)
        client.call("POST", imports, files={"file": ("x.jsonl.gz", long_line)}, timeout=30)
        client.call("POST", "/api/v1/models/recs/batch-recommendations", json={}, timeout=30)
        client.call("POST", "/api/v1/models/recs/train", json={}, timeout=30)
        time.sleep(0.2)


def test_a_noisy_neighbour_at_its_limits_does_not_slow_another_tenant(
    tenant_a, tenant_b, django_capture_on_commit_callbacks, redis_server, tmp_path, transactional_db
):
    train_model(tenant_a, django_capture_on_commit_callbacks, slug="recs")
    trial = Plan.objects.create(name="noisy-trial", **SELF_SERVICE_LIMITS)
    tenant_b.tenant.plan = trial
    tenant_b.tenant.save()
    train_model(tenant_b, django_capture_on_commit_callbacks, slug="recs", dataset=make_interactions_dataset(
        tenant_b.tenant, n_users=2000, per_user=3
    ))  # fmt: skip
    web = Gunicorn(tmp_path, production_env(redis_server.url), workers=2, access_log=True)
    # Sized as docs/scaling.md asks: more slots than a plan's jobs at once (B's trial plan may run an import,
    # a training run and a batch job together), so another tenant always finds a free one.
    workers = [worker(tmp_path, redis_server.url, queues="default,training,imports", concurrency=4)]
    try:
        a, b = Timed(web.base, tenant_a.key), Timed(web.base, tenant_b.key)
        alone_latency, alone_server, alone_bare = _recommend_for(web, tenant_a.key, 10)
        alone_import, alone_training = _import_and_train(a)

        stop = threading.Event()
        noise = threading.Thread(target=_abuse, args=(b, stop), daemon=True)
        noise.start()
        try:
            outcome = {}
            busy = threading.Thread(target=lambda: outcome.update(times=_import_and_train(a)))
            busy.start()
            latency, server, bare = _recommend_for(web, tenant_a.key, 20)
            busy.join(900)
        finally:
            stop.set()
            noise.join(60)

        busy_import, busy_training = outcome["times"]
        figures = (
            f"p99 {_p99(latency) * 1000:.0f} ms (alone {_p99(alone_latency) * 1000:.0f} ms), in the server "
            f"{_p99(server) * 1000:.0f} ms (alone {_p99(alone_server) * 1000:.0f} ms), {len(latency)} calls; "
            f"bare reference /health p99 {_p99(bare) * 1000:.0f} ms (alone {_p99(alone_bare) * 1000:.0f} ms); "
            f"import {busy_import:.1f} s (alone {alone_import:.1f} s); "
            f"training {busy_training:.1f} s (alone {alone_training:.1f} s)"
        )
        print(f"noisy neighbour: {figures}")
        assert _p99(latency) <= 0.050, figures
        assert busy_import <= 2 * alone_import, figures
        assert busy_training <= 2 * alone_training, figures

        # Nothing of B's exceeded its plan.
        use = quota_use(tenant_b.tenant)
        assert all(quota["used"] <= quota["limit"] for quota in use.values()), use
        assert Interaction.objects.filter(tenant=tenant_b.tenant).count() <= trial.max_rows
        assert BatchJob.objects.filter(tenant=tenant_b.tenant).count() <= trial.max_batch_jobs_per_day
        assert TrainingRun.objects.filter(tenant=tenant_b.tenant).count() <= trial.max_training_runs_per_day
    finally:
        for process in workers:
            process.stop()
        web.stop()
