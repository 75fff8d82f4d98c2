"""``make run``'s script (scripts/run-embedded.sh): DEBUG off by default, and one signal stops everything.

The script runs as a person runs it: on its embedded defaults (SQLite and the
file-system broker in a fresh var folder), on a free port, without the demo
tenant (``DEMO=0``, which would train a first model).
"""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from .serving.test_processes import _free_port
from .worker import wait_until

ROOT = Path(__file__).resolve().parents[1]
STOP_WITHIN_SECONDS = 10
# Variables of this test session that would point the script away from its embedded defaults.
NOT_PASSED = {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE"}


def descendants(pid):
    """Every process started under ``pid``, whatever session it moved to (from /proc's parent links)."""
    children = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has stopped; only its parent's wait is missing


@pytest.fixture
def embedded(tmp_path):
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if key not in NOT_PASSED}
    env.update(VAR_DIR=str(tmp_path / "var"), PORT=str(port), DEMO="0")
    log = (tmp_path / "run.log").open("w")
    process = subprocess.Popen(
        ["bash", "scripts/run-embedded.sh"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, as `make run` in a terminal
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def up():
        try:
            return requests.get(f"{base}/health", timeout=10).status_code == 200
        except requests.RequestException:
            return process.poll() is not None  # ended early: the assertion below shows its log

    try:
        wait_until(up, timeout=180, interval=0.5)
        assert process.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
        yield process, base, tmp_path
    finally:
        for pid in [process.pid, *descendants(process.pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        process.wait(timeout=10)
        log.close()


def test_make_run_is_not_in_debug_and_serves_its_static_files(embedded):
    _, base, _ = embedded
    missing = requests.get(f"{base}/no-such-page/", timeout=30)
    assert missing.status_code == 404
    assert "URLconf" not in missing.text and "Not found" in missing.text
    login = requests.get(f"{base}/accounts/login/", timeout=30)
    stylesheet = login.text.split('rel="stylesheet" href="', 1)[1].split('"', 1)[0]
    assert requests.get(f"{base}{stylesheet}", timeout=30).status_code == 200


def test_make_run_starts_without_warnings(embedded):
    """What a person sees on the terminal and in the worker's log: no warning from the platform or its libraries."""
    _, base, tmp_path = embedded
    assert requests.get(f"{base}/accounts/login/", timeout=30).status_code == 200
    worker_log = tmp_path / "var" / "worker.log"
    wait_until(lambda: worker_log.exists() and "ready." in worker_log.read_text(), timeout=120, interval=0.5)
    # Celery's advice against running the worker as root is right, and only root sees it (as CI runs): not noise.
    root_advice = ("SecurityWarning", "ROOT_DISCOURAGED") if os.geteuid() == 0 else ()
    for log in (tmp_path / "run.log", worker_log):
        noisy = [
            line
            for line in log.read_text().splitlines()
            if "warning" in line.lower() and not any(mark in line for mark in root_advice)
        ]
        assert not noisy, f"{log.name}: {noisy[:5]}"


@pytest.mark.parametrize("sent", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_one_signal_to_make_run_stops_every_process_it_started(embedded, sent):
    process, _, tmp_path = embedded
    started = descendants(process.pid)
    assert len(started) >= 4, "expected the worker with its pool and gunicorn with its workers"
    os.killpg(process.pid, sent)  # what a terminal does on Ctrl-C, and `kill -- -PGID`
    deadline = time.monotonic() + STOP_WITHIN_SECONDS
    while time.monotonic() < deadline and (process.poll() is None or any(alive(pid) for pid in started)):
        time.sleep(0.2)
    left = [pid for pid in started if alive(pid)]
    assert process.poll() is not None and not left, (
        f"still running {STOP_WITHIN_SECONDS} s after {sent.name}: script={process.poll() is None}, children={left}\n"
        + (tmp_path / "run.log").read_text()[-2000:]
    )
