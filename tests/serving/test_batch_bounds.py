"""Batch jobs count against the plan and take turns on the workers.

The attack: five batch jobs of 100,000 users each were accepted and ran one after another (about 45 s
each); another tenant's one-user batch waited 216 s. Now jobs a day and users a job are plan quotas, a
tenant runs its plan's number of jobs at once, and a job runs in slices that go to the back of the queue.
"""

import pytest
from django.core.files.storage import default_storage

from recommender.serving.models import BatchJob
from saas_platform.celery import app

from ..worker import wait_until
from .conftest import train_model

BATCH = "/api/v1/models/recs/batch-recommendations"


def _batch(world, user_ids=None):
    return world.client.post(BATCH, {"user_ids": user_ids} if user_ids else {}, format="json")


@pytest.mark.django_db
def test_jobs_a_day_and_users_a_job_are_plan_quotas_checked_before_the_job_is_queued(
    served, django_capture_on_commit_callbacks
):
    plan = served.tenant.plan
    plan.max_batch_jobs_per_day, plan.max_batch_users = 2, 5
    plan.save()

    too_many_users = _batch(served, [f"u{n}" for n in range(6)])
    assert too_many_users.status_code == 429
    assert too_many_users.json()["error"]["code"] == "quota_exceeded"
    assert (
        "would score 6 users; the standard plan allows 5 users a batch job" in too_many_users.json()["error"]["message"]
    )
    every_user = _batch(served)  # the dataset has 40 users
    assert every_user.status_code == 429 and "would score 40 users" in every_user.json()["error"]["message"]

    with django_capture_on_commit_callbacks(execute=True):
        assert [_batch(served, ["u1"]).status_code for _ in range(2)] == [202, 202]
    third = _batch(served, ["u1"])
    assert third.status_code == 429 and "allows 2 batch jobs a day" in third.json()["error"]["message"]
    assert BatchJob.objects.filter(tenant=served.tenant).count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_small_job_of_one_tenant_is_not_queued_behind_another_tenants_large_ones(
    tenant_a, tenant_b, django_capture_on_commit_callbacks, start_worker
):
    app.conf.update(CELERY_TASK_ALWAYS_EAGER=True, CELERY_TASK_EAGER_PROPAGATES=True)
    train_model(tenant_a, django_capture_on_commit_callbacks, recipe="popularity")
    train_model(tenant_b, django_capture_on_commit_callbacks, recipe="popularity")
    app.conf.update(CELERY_TASK_ALWAYS_EAGER=False, CELERY_TASK_EAGER_PROPAGATES=False)
    large = [_batch(tenant_b).json()["id"] for _ in range(3)]  # 40 users each: four turns
    small = _batch(tenant_a, ["u1"]).json()["id"]
    # Every job is queued before the worker starts, so the queue's order (not how fast this test posts on a
    # busy machine) decides: one worker slot; B's jobs run 10 users a turn, one job at a time.
    worker = start_worker(extra_env={"LIMIT_BATCH_SLICE_USERS": "10", "TURN_WAIT_SECONDS": "1"})

    def status(pk):
        return BatchJob.objects.unscoped().get(pk=pk).status

    wait_until(lambda: status(small) == "succeeded", 120, message=f"the small job ({worker.log()[-2000:]})")
    wait_until(lambda: all(status(pk) == "succeeded" for pk in large), 180, message="the large jobs")
    # Slices take milliseconds here, so the order the jobs finished in is what tells, not a status caught mid-way.
    finished = {job.pk: job.finished_at for job in BatchJob.objects.unscoped().filter(pk__in=[*large, small])}
    assert finished[small] < finished[large[0]], "the small job waited for a whole large job of another tenant"
    assert finished[large[0]] < finished[large[1]] < finished[large[2]], "B runs one batch job at a time, in turn"
    jobs = BatchJob.objects.unscoped().filter(pk__in=large).order_by("finished_at")
    assert [job.users_done for job in jobs] == [40, 40, 40]
    for job in jobs:
        with default_storage.open(job.file_path, "rb") as stored:
            lines = stored.read().decode().splitlines()
        assert lines[0] == "user_id,rank,item_id,score,fallback,recommendation_id"
        assert len({line.split(",")[0] for line in lines[1:]}) == 40, "every user once, in one file"
