"""A live platform for the client: gunicorn on a free port against the test database, and its URL."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from ..worker import _database_url_of_test_db, stop_process_group, wait_until

ROOT = Path(__file__).resolve().parents[2]


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def live_platform(transactional_db, tmp_path):
    """The platform served by gunicorn, as `make run` serves it, seeing the test's committed data."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url_of_test_db(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "STORAGE_ROOT": str(settings.MEDIA_ROOT),
        "DJANGO_SETTINGS_MODULE": "saas_platform.settings",
    }
    log = open(tmp_path / "gunicorn.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "saas_platform.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--threads", "4", "--timeout", "120", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def up():
        try:
            return httpx.get(f"{base}/health", timeout=1).status_code == 200
        except httpx.HTTPError:  # not listening yet, or still loading Django
            return process.poll() is not None

    try:
        wait_until(up, 90, message="gunicorn to start")
        assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()
        yield base
    finally:
        stop_process_group(process)
        log.close()
