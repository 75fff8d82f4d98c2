"""Real processes for the fault drills: a private Redis server, gunicorn and Celery workers on loopback.

Each drill gets its own ``redis-server`` on a free port, so stopping it (with
``redis-cli shutdown nosave``, as an operator would) never disturbs anything
else running on the machine; gunicorn and the workers talk to it and to the
test database with production settings (``DEBUG=0``). Every process started
here is stopped by the fixture that made it, whatever the test did.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from django.conf import settings

from ..worker import WorkerProcess, _database_url_of_test_db, stop_process_group, wait_until

ROOT = Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A throwaway ``redis-server`` on 127.0.0.1, stopped and started like the platform's own."""

    def __init__(self, tmp_path):
        self.port = free_port()
        self.dir = tmp_path / f"redis-{self.port}"
        self.dir.mkdir()
        self.process = None
        self.start()

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        """The documented start command, on this server's own port and folder."""
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.dir), "--logfile", str(self.dir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        wait_until(self.answers, 20, message=f"redis-server on port {self.port}")

    def stop(self):
        """``redis-cli shutdown nosave``: what an operator (or a crash without persistence) does."""
        subprocess.run(["redis-cli", "-p", str(self.port), "shutdown", "nosave"], capture_output=True, timeout=10)
        self.process.wait(10)

    def answers(self):
        result = subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True)
        return result.stdout.strip() == "PONG"

    def keys(self, pattern):
        result = subprocess.run(["redis-cli", "-p", str(self.port), "--scan", "--pattern", pattern],
                                capture_output=True, text=True, timeout=10)  # fmt: skip
        return result.stdout.split()

    def close(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def production_env(redis_url, **extra):
    """Environment of a web or worker process: production settings, the test database, the given Redis."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "saas_platform.settings",
        "DEBUG": "0",
        # The test process's key: tenant data secrets were sealed with it.
        "SECRET_KEY": settings.SECRET_KEY,
        "SECURE_SSL_REDIRECT": "0",
        "EMAIL_CONSOLE_OPT_IN": "1",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": _database_url_of_test_db(),
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "STORAGE_ROOT": str(settings.MEDIA_ROOT),
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "OPENBLAS_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


class Gunicorn:
    """``gunicorn saas_platform.wsgi`` on a free loopback port, its log in a file."""

    def __init__(self, tmp_path, env, workers=1, access_log=False):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / f"gunicorn-{self.port}.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        # With access_log, each request's path, status and microseconds in the server (access_times reads them).
        self.access_path = tmp_path / f"gunicorn-{self.port}-access.log" if access_log else None
        logging = ["--access-logfile", str(self.access_path), "--access-logformat", "%(U)s %(s)s %(D)s"]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "saas_platform.wsgi:application", "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(workers), "--timeout", "60", "--log-level", "warning",
             *(logging if access_log else [])],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        wait_until(self._up, 90, interval=0.2, message="gunicorn to answer /health")

    def _up(self):
        if self.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited at start:\n{self.log()}")
        try:
            return requests.get(f"{self.base}/health", timeout=2).status_code == 200
        except requests.RequestException:  # not listening yet
            return False

    def log(self):
        return self.log_path.read_text(errors="replace")

    def access_times(self, path_prefix):
        """Seconds the server spent on each request whose path starts with ``path_prefix``, in log order."""
        lines = self.access_path.read_text().splitlines() if self.access_path else []
        return [int(line.split()[2]) / 1e6 for line in lines if line.startswith(path_prefix)]

    def stop(self):
        stop_process_group(self.process)
        self._log.close()


def worker(tmp_path, redis_url, **kwargs):
    """A Celery worker on the drill's Redis, with the web processes' settings."""
    env = production_env(redis_url)
    names = ("DEBUG", "SECRET_KEY", "EMAIL_CONSOLE_OPT_IN", "REDIS_URL", "CELERY_BROKER_URL", "OPENBLAS_NUM_THREADS")
    extra = {key: env[key] for key in names}
    extra.update(kwargs.pop("extra_env", {}))
    return WorkerProcess(tmp_path, extra_env={**extra, "ALLOWED_HOSTS": "127.0.0.1"}, **kwargs)


class Timed:
    """Requests to the stack, each with its status and duration, for assertions on what users saw."""

    def __init__(self, base, key):
        self.base = base
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Api-Key {key}"
        self.seen = []

    def call(self, method, path, timeout=10, **kwargs):
        started = time.monotonic()
        response = self.session.request(method, self.base + path, timeout=timeout, **kwargs)
        self.seen.append((path, response.status_code, time.monotonic() - started))
        return response
