"""Serving across real processes: no TensorFlow in web processes, deployments seen by every process."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from recommender.serving.loader import forget_all
from tenants.selectors import forget_cached_key

from ..worker import _database_url_of_test_db, wait_until
from .conftest import train_model

ROOT = Path(__file__).resolve().parents[2]


def _env():
    return {
        **os.environ,
        "DATABASE_URL": _database_url_of_test_db(),
        "REDIS_URL": settings.REDIS_URL,
        "STORAGE_ROOT": str(settings.MEDIA_ROOT),
        "DJANGO_SETTINGS_MODULE": "saas_platform.settings",
    }


@pytest.mark.django_db(transaction=True)
def test_a_web_process_serves_recommendations_without_importing_tensorflow_or_pandas(
    tenant_a, django_capture_on_commit_callbacks
):
    train_model(tenant_a, django_capture_on_commit_callbacks, slug="recs", recipe="ease")
    script = f"""
import sys, django
django.setup()
from django.test import Client
import saas_platform.urls  # every view module, as a web process loads them
response = Client().get("/api/v1/models/recs/recommendations", {{"user_id": "u1"}},
                        HTTP_AUTHORIZATION="Api-Key {tenant_a.key}", HTTP_HOST="127.0.0.1")
loaded = [name in sys.modules for name in ("tensorflow", "keras", "pandas")]
print(response.status_code, response.json()["version"], *loaded)
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    # pandas costs a web process some 90 MB; only imports, events and training need it.
    assert result.stdout.split()[-5:] == ["200", "1", "False", "False", "False"]


def test_the_wsgi_entry_point_hides_loaded_code_from_the_garbage_collector():
    # A full collection over every loaded module would stall one request in
    # many by tens of milliseconds; gunicorn workers import this entry point.
    script = """
import gc, sys
import saas_platform.wsgi
print("recommender.serving.api.views" in sys.modules, gc.get_freeze_count())
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    views_loaded, frozen = result.stdout.split()[-2:]
    assert views_loaded == "True"
    assert int(frozen) > 50_000  # Django, DRF and the views: far more than any single module holds


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def gunicorn_two_workers(transactional_db):
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "saas_platform.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "--log-level", "warning"],
        cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def up():
        try:
            return requests.get(f"{base}/health", timeout=1).status_code == 200
        except requests.RequestException:  # not listening yet, or still loading Django
            return False

    try:
        wait_until(up, 60, message="gunicorn to start")
        yield base
    finally:
        process.terminate()
        process.wait(20)


def test_a_rollback_is_served_by_every_process_within_a_second(
    gunicorn_two_workers, tenant_a, django_capture_on_commit_callbacks
):
    dataset = train_model(tenant_a, django_capture_on_commit_callbacks, slug="recs", recipe="popularity")
    tenant_a.client.patch("/api/v1/models/recs", {"recipe": "ease", "auto_deploy": "always"}, format="json")
    with django_capture_on_commit_callbacks(execute=True):
        tenant_a.client.post("/api/v1/models/recs/train", {}, format="json")
    assert dataset.pk

    session = requests.Session()
    session.headers["Authorization"] = f"Api-Key {tenant_a.key}"
    url = f"{gunicorn_two_workers}/api/v1/models/recs/recommendations?user_id=u1"

    def versions(n=20):
        return {session.get(url, timeout=30).json()["version"] for _ in range(n)}

    # Both workers start, load version 2 and serve it (the deadline only bounds the test on a busy machine).
    wait_until(lambda: versions(10) == {2}, 60, interval=0.1, message="both workers to serve v2")
    tenant_a.client.post("/api/v1/models/recs/versions/1/deploy")
    deployed_at = time.monotonic()
    # Processes cache deployments for one second (LOCAL_CACHE_SECONDS); the deadline only bounds the test.
    wait_until(lambda: versions(10) == {1}, 10, interval=0.05, message="a worker to serve v1")
    # Those requests may all have reached one worker; once the second has passed, no worker may serve v2.
    time.sleep(max(0.0, deployed_at + settings.PLATFORM["LOCAL_CACHE_SECONDS"] + 0.2 - time.monotonic()))
    assert versions() == {1}


@pytest.mark.django_db
def test_warm_requests_do_not_query_api_keys_or_deployments(served):
    forget_all()
    forget_cached_key()
    served.client.get("/api/v1/models/recs/recommendations", {"user_id": "u1"})  # warm up
    with CaptureQueriesContext(connection) as queries:
        response = served.client.get("/api/v1/models/recs/recommendations", {"user_id": "u2"})
    assert response.status_code == 200
    tables = " ".join(query["sql"] for query in queries.captured_queries)
    for table in ("tenants_apikey", "training_deployment", "training_modelconfig", "training_modelversion"):
        assert table not in tables, json.dumps(queries.captured_queries, indent=1)
