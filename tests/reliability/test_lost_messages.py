"""Drill: Redis restarts (no persistence) while an upload and a training run wait in its queues.

Their messages go with Redis's memory; the rows stay "queued". The periodic
re-send (``resend_lost_runs``, ``resend_lost_imports``) sends them again once
they have waited ``QUEUED_RESEND_AFTER_SECONDS``, and a real worker carries
them out. The wait is stood in for by back-dating when their task was sent.
"""

import subprocess
import sys
from datetime import timedelta

from django.utils import timezone

from recommender.data.models import ImportJob
from recommender.training.models import TrainingRun

from ..serving.conftest import train_model
from ..worker import wait_until
from .stack import ROOT, Timed, production_env, worker

RESEND = (
    "import django; django.setup()\n"
    "from recommender.data.services import resend_lost_imports\n"
    "from recommender.training.services.runs import resend_lost_runs\n"
    "print(resend_lost_runs(), resend_lost_imports())\n"
)


def test_work_queued_when_redis_restarted_is_sent_again_and_done(
    tenant_a, django_capture_on_commit_callbacks, web, redis_server, tmp_path
):
    dataset = train_model(tenant_a, django_capture_on_commit_callbacks, slug="recs", recipe="popularity")
    client = Timed(web.base, tenant_a.key)
    upload = client.call(
        "POST", f"/api/v1/datasets/{dataset.pk}/imports", files={"file": ("c.csv", b"user_id,item_id\nu1,i1\n")}
    )
    train = client.call("POST", "/api/v1/models/recs/train", json={})
    assert upload.status_code == 202 and train.status_code == 202
    job_id, run_id = upload.json()["id"], train.json()["id"]
    assert redis_server.keys("imports") and redis_server.keys("training"), "both messages wait in Redis"

    redis_server.stop()
    redis_server.start()
    assert not redis_server.keys("imports") and not redis_server.keys("training"), "and are gone with it"

    handler = worker(tmp_path, redis_server.url, queues="default,training,imports")
    try:
        assert client.call("GET", f"/api/v1/runs/{run_id}").json()["status"] == "queued"
        long_ago = timezone.now() - timedelta(minutes=11)
        TrainingRun.objects.unscoped().filter(pk=run_id).update(sent_at=long_ago)
        ImportJob.objects.unscoped().filter(pk=job_id).update(sent_at=long_ago)
        resent = subprocess.run(
            [sys.executable, "-c", RESEND], cwd=ROOT, env=production_env(redis_server.url),
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert resent.stdout.strip() == f"[{run_id}] [{job_id}]", resent.stderr[-3000:]

        def done(path):
            found = client.call("GET", path).json()
            return found if found["status"] in ("succeeded", "failed") else None

        run = wait_until(lambda: done(f"/api/v1/runs/{run_id}"), 60, message="the run sent again to finish")
        job = wait_until(lambda: done(f"/api/v1/imports/{job_id}"), 60, message="the import sent again to finish")
        assert run["status"] == "succeeded", (run["error"], handler.log()[-3000:])
        assert job["status"] == "succeeded" and job["rows_loaded"] == 1, (job["message"], handler.log()[-3000:])
    finally:
        handler.stop()
