"""Fault drills with real processes: Redis and PostgreSQL going away under gunicorn and Celery workers.

What each drill shows is written up in docs/operations.md ("Fault drills"). The
quick Redis drill runs in the normal suite on its own private ``redis-server``;
the longer drills (training through a Redis outage, a PostgreSQL restart under
traffic, workers killed mid-import and mid-training) are marked ``reliability``.
"""

import pytest

from ..serving.conftest import train_model
from ..worker import wait_until
from .stack import Gunicorn, Timed, production_env

RECOMMEND = "/api/v1/models/recs/recommendations?user_id=u1&k=5"
CSV = b"user_id,item_id\nu1,i1\n"


@pytest.fixture
def served(tenant_a, django_capture_on_commit_callbacks):
    tenant_a.dataset = train_model(tenant_a, django_capture_on_commit_callbacks, slug="recs", recipe="popularity")
    return tenant_a


def test_recommendations_keep_answering_while_redis_is_down_and_metering_resumes(served, web, redis_server):
    client = Timed(web.base, served.key)
    assert all(client.call("GET", RECOMMEND).status_code == 200 for _ in range(5))
    assert redis_server.keys("ratelimit:*"), "requests are counted in this Redis while it is up"

    redis_server.stop()
    during = [client.call("GET", RECOMMEND) for _ in range(20)]
    assert [response.status_code for response in during] == [200] * 20
    assert max(duration for _, _, duration in client.seen[-20:]) < 1.0, "no request waits on the dead Redis"
    # Busy keys are counted in the process, so the outage shows when the counts are next sent (METERING_SECONDS).
    wait_until(lambda: "Redis unavailable" in web.log(), 5, message="the outage to be logged")
    assert "rate limits are not enforced" in web.log()

    redis_server.start()
    # The next request after Redis is back is counted again: limits and metering resume by themselves.
    wait_until(
        lambda: client.call("GET", RECOMMEND).status_code == 200 and redis_server.keys("ratelimit:*"),
        10,
        message="requests to be counted in Redis again",
    )
    assert all(status == 200 for _, status, _ in client.seen)


def test_while_redis_is_down_work_that_needs_the_queue_is_refused_cleanly(served, web, redis_server):
    """Uploads, training and batches need the task queue: with Redis down they answer 503 in the error
    shape, fast, and leave no job that would wait forever; once Redis is back the same calls work."""
    client = Timed(web.base, served.key)
    dataset = served.dataset.pk
    redis_server.stop()
    upload = client.call("POST", f"/api/v1/datasets/{dataset}/imports", files={"file": ("c.csv", CSV)})
    train = client.call("POST", "/api/v1/models/recs/train", json={})
    batch = client.call("POST", "/api/v1/models/recs/batch-recommendations", json={"user_ids": ["u1"]})
    for response in (upload, train, batch):
        assert response.status_code == 503, response.text[:500]
        assert response.json()["error"]["code"] == "queue_unavailable"
    assert max(duration for _, _, duration in client.seen) < 5.0
    jobs = client.call("GET", "/api/v1/imports").json()["results"]
    runs = client.call("GET", "/api/v1/models/recs/runs").json()["results"]
    assert all(job["status"] != "queued" for job in jobs) and all(run["status"] != "queued" for run in runs)

    redis_server.start()
    upload = client.call("POST", f"/api/v1/datasets/{dataset}/imports", files={"file": ("c.csv", CSV)})
    assert upload.status_code == 202 and upload.json()["status"] == "queued"


# --- the longer drills (make test-reliability) ------------------------------------------------------------

# Slow enough to be caught mid-run, small enough for CI (as in tests/training/test_worker_training.py).
SLOW_NEUMF = {"epochs": 60, "gmf_dim": 8, "mlp_dim": 8, "mlp_layers": [16, 8], "batch_size": 32, "negatives": 4}
PG_CLUSTER = ["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main"]


def _start_slow_training(client, dataset_id, slug="slow"):
    body = {"name": slug, "slug": slug, "dataset": dataset_id, "recipe": "neumf", "params": SLOW_NEUMF}
    assert client.call("POST", "/api/v1/models", json=body).status_code == 201
    response = client.call("POST", f"/api/v1/models/{slug}/train", json={})
    assert response.status_code == 202, response.text
    return response.json()["id"]


def _run(client, run_id):
    return client.call("GET", f"/api/v1/runs/{run_id}").json()


def _finished(client, run_id):
    run = _run(client, run_id)
    return run if run["status"] in ("succeeded", "failed", "cancelled") else None


@pytest.mark.reliability
def test_a_training_run_survives_redis_going_away_and_coming_back(served, web, redis_server, tmp_path):
    from .stack import worker

    trainer = worker(tmp_path, redis_server.url, queues="training,default")
    try:
        client = Timed(web.base, served.key)
        run_id = _start_slow_training(client, served.dataset.pk)
        wait_until(lambda: _run(client, run_id)["current_epoch"] >= 2, 120, message="a few epochs")
        redis_server.stop()
        epoch = _run(client, run_id)["current_epoch"]
        # Training goes on without the broker (its heartbeat and progress are in PostgreSQL)...
        wait_until(lambda: _run(client, run_id)["current_epoch"] >= epoch + 2, 60, message="epochs without Redis")
        assert client.call("GET", RECOMMEND).status_code == 200, "and the deployed model keeps serving"
        redis_server.start()
        run = wait_until(lambda: _finished(client, run_id), 240, message="the run to finish")
        assert run["status"] == "succeeded", (run["error"], trainer.log()[-3000:])
        assert _run(client, run_id)["version"] is not None
        assert "Connection refused" in trainer.log() or "Cannot connect" in trainer.log(), "the outage was seen"
    finally:
        trainer.stop()


@pytest.mark.reliability
def test_postgresql_restarted_under_traffic_answers_503_then_recovers_without_a_web_restart(
    served, tmp_path, redis_server, transactional_db
):
    import subprocess

    from django.db import connection

    web = Gunicorn(tmp_path, production_env(redis_server.url), workers=2)
    client = Timed(web.base, served.key)
    paths = [RECOMMEND, "/api/v1/datasets", "/health"]
    try:
        assert all(client.call("GET", path).status_code == 200 for path in paths for _ in range(3))
        before = len(client.seen)
        subprocess.run([*PG_CLUSTER, "stop", "-m", "fast"], check=True, timeout=60)
        try:
            outage = [client.call("GET", path) for _ in range(5) for path in paths]
        finally:
            subprocess.run([*PG_CLUSTER, "start"], check=True, timeout=60)
        connection.close()  # this test's own connection died with the server; the next query reconnects
        during = client.seen[before:]
        assert {status for _, status, _ in during} <= {200, 503}, during
        assert max(duration for _, _, duration in during) < 5.0, "requests fail fast, never hang"
        by_path = {path: [r for r in outage if r.request.path_url == path] for path in paths}
        assert len(by_path["/api/v1/datasets"]) == len(by_path["/health"]) == 5
        for response in by_path["/api/v1/datasets"]:
            assert response.status_code == 503 and response.json()["error"]["code"] == "service_unavailable"
        assert all(response.status_code == 503 for response in by_path["/health"])
        # Back without touching gunicorn: every path answers 200 again within seconds.
        wait_until(lambda: all(client.call("GET", p).status_code == 200 for p in paths), 30, message="recovery")
        assert web.process.poll() is None
    finally:
        web.stop()


@pytest.mark.reliability
def test_a_worker_killed_mid_import_leaves_no_rows_and_no_job_running(served, web, redis_server, tmp_path):
    from recommender.data.importing.runner import reap_orphaned_imports
    from recommender.data.models import Interaction

    from .stack import worker

    rows = 1_000_000
    content = "user_id,item_id,timestamp\n" + "".join(
        f"u{n % 5000},i{n % 3000},{1_700_000_000 + n}\n" for n in range(rows)
    )
    client = Timed(web.base, served.key)
    dataset = client.call("POST", "/api/v1/datasets", json={"name": "big", "kind": "interactions"}).json()["id"]
    importer = worker(tmp_path, redis_server.url, queues="imports")
    try:
        job = client.call("POST", f"/api/v1/datasets/{dataset}/imports", files={"file": ("big.csv", content.encode())})
        job_url = f"/api/v1/imports/{job.json()['id']}"
        wait_until(lambda: client.call("GET", job_url).json()["rows_read"] > 0, 120, message="the import to start")
        importer.kill()
        # PostgreSQL ends the dead worker's session (and its lock) as soon as it sees the socket closed.
        wait_until(lambda: reap_orphaned_imports() == [job.json()["id"]], 30, message="the orphan to be reaped")
        failed = client.call("GET", job_url).json()
        assert failed["status"] == "failed" and "stopped before it finished" in failed["message"]
        assert not Interaction.objects.unscoped().filter(dataset_id=dataset).exists(), "nothing half-loaded"
        # The broker re-delivers the killed worker's message; the failed job is not run (twice) again.
        second = worker(tmp_path, redis_server.url, queues="imports", extra_env={"CELERY_VISIBILITY_TIMEOUT": "2"})
        try:
            wait_until(lambda: "run_import" in second.log(), 60, message="the message to be re-delivered")
            assert client.call("GET", job_url).json()["status"] == "failed"
            assert not Interaction.objects.unscoped().filter(dataset_id=dataset).exists()
        finally:
            second.stop()
    finally:
        importer.stop()


@pytest.mark.reliability
def test_a_worker_killed_mid_training_is_reaped_and_serving_never_stops(served, web, redis_server, tmp_path):
    from celery import Celery

    from .stack import worker

    # A heartbeat a second, stale after three: the reaper's clock, shortened for the drill.
    fast = {"TRAINING_HEARTBEAT_SECONDS": "1", "TRAINING_STALE_AFTER_SECONDS": "3"}
    first = worker(tmp_path, redis_server.url, queues="training", extra_env=fast)
    client = Timed(web.base, served.key)
    try:
        run_id = _start_slow_training(client, served.dataset.pk)
        wait_until(lambda: _run(client, run_id)["current_epoch"] >= 1, 120, message="a first epoch")
        first.kill()
        assert client.call("GET", RECOMMEND).status_code == 200
        assert _run(client, run_id)["status"] == "running"  # until the reaper sees the heartbeat stop
        second = worker(tmp_path, redis_server.url, queues="training,default", extra_env=fast)
        try:
            # What beat does every 30 s: send the reaper task through the broker.
            # Not the current app: the tests that run after this one must keep the project's broker.
            beat = Celery(broker=redis_server.url, set_as_current=False)
            wait_until(
                lambda: beat.send_task("recommender.training.tasks.reap_stale_runs", queue="default")
                and _run(client, run_id)["attempts"] == 2,
                60,
                interval=1.0,
                message="the run to be re-queued and started again",
            )
            run = wait_until(lambda: _finished(client, run_id), 240, message="the re-queued run to finish")
            assert run["status"] == "succeeded", run["error"]
            assert run["attempts"] == 2
        finally:
            second.stop()
        assert all(status == 200 for path, status, _ in client.seen if path == RECOMMEND)
    finally:
        first.stop()
