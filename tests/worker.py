"""A real Celery worker process for tests about the worker.

Tests that use it must see committed data from another process, so they run with
``@pytest.mark.django_db(transaction=True)``. The worker talks to the same test
database and to Redis (the broker), exactly as in production.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

from saas_platform.celery import app as celery_app

ROOT = Path(__file__).resolve().parent.parent


def wait_until(predicate, timeout=60.0, interval=0.1, message="condition"):
    """Poll ``predicate`` until it returns a truthy value or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"Timed out after {timeout:.0f}s waiting for {message}")


class WorkerProcess:
    """One ``celery worker`` subprocess, with its log captured to a file."""

    def __init__(self, tmp_path, queues="default,training,imports", concurrency=1, extra_env=None):
        self.log_path = tmp_path / f"worker-{time.monotonic_ns()}.log"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "saas_platform.settings",
            "DATABASE_URL": _database_url_of_test_db(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "REDIS_URL": settings.REDIS_URL,
            "STORAGE_ROOT": str(settings.MEDIA_ROOT),
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "saas_platform", "worker",
                "--queues", queues, "--concurrency", str(concurrency), "--loglevel", "INFO",
                "--hostname", f"test-{time.monotonic_ns()}@%h", "--without-mingle", "--without-gossip",
            ],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        wait_until(lambda: "ready." in self.log() or self.process.poll() is not None, 90, message="worker start")
        if self.process.poll() is not None:
            raise RuntimeError(f"Celery worker exited at start:\n{self.log()}")

    @property
    def pid(self):
        return self.process.pid

    def log(self):
        return self.log_path.read_text(errors="replace")

    def kill(self):
        """SIGKILL the whole worker (main process and pool children), as a crash would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self._log.close()

    def stop(self):
        stop_process_group(self.process)
        self._log.close()


def stop_process_group(process):
    """SIGTERM a process started with ``start_new_session`` and its children; SIGKILL if they linger."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def _database_url_of_test_db():
    db = connection.settings_dict
    if db["ENGINE"] != "django.db.backends.postgresql":
        raise RuntimeError("Worker tests need PostgreSQL (run them with make test).")
    user = db.get("USER") or "postgres"
    return f"postgres://{user}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def purge_broker():
    """Drop messages left in the test broker by an earlier run."""
    with celery_app.connection_for_write() as conn:
        for queue in ("default", "training", "imports"):
            conn.default_channel.queue_purge(queue) if _queue_exists(conn, queue) else None


def _queue_exists(conn, queue):
    try:
        conn.default_channel.queue_declare(queue, passive=True)
        return True
    except Exception:  # kombu raises a transport-specific error for a missing queue
        return False
