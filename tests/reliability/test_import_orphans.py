"""An import job is carried out by one worker at a time, and one whose worker died does not stay "running".

A worker holds its job's PostgreSQL advisory lock while importing; here a second
database session stands in for that worker. The drill with a real worker killed
mid-import is in test_faults.py (``make test-reliability``).
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections

from recommender.data.importing.runner import IMPORT_LOCK_PREFIX, reap_orphaned_imports, run_import
from recommender.data.models import ImportJob, Interaction
from recommender.data.services import create_dataset, start_import
from tenants.audit import Actor

pytestmark = pytest.mark.django_db


@pytest.fixture
def other_worker():
    """A second database session, as another worker's would be; ``holds(job)`` takes the job's lock in it."""
    session = connections.create_connection("default")

    def holds(job):
        with session.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [IMPORT_LOCK_PREFIX + job.pk])
            assert cursor.fetchone()[0]

    yield holds
    session.close()


@pytest.fixture
def queued_job(tenant_a):
    actor = Actor.system(tenant_a.tenant)
    dataset = create_dataset(actor=actor, name="d", kind="interactions")
    upload = SimpleUploadedFile("c.csv", b"user_id,item_id\nu1,i1\nu2,i2\n")
    return start_import(actor=actor, dataset=dataset, upload=upload, options={})


def test_a_job_another_worker_is_carrying_out_is_not_imported_twice(queued_job, other_worker):
    other_worker(queued_job)
    run_import(queued_job.pk, tenant_id=queued_job.tenant_id)
    queued_job.refresh_from_db()
    assert queued_job.status == ImportJob.Status.QUEUED
    assert not Interaction.objects.unscoped().filter(dataset=queued_job.dataset).exists()


def test_a_running_job_whose_worker_is_gone_is_failed_and_a_live_one_is_left_alone(queued_job, other_worker):
    ImportJob.objects.unscoped().filter(pk=queued_job.pk).update(status=ImportJob.Status.RUNNING)
    assert reap_orphaned_imports() == [queued_job.pk]
    queued_job.refresh_from_db()
    assert queued_job.status == ImportJob.Status.FAILED and "Run the import again" in queued_job.message
    # Run again (as the portal's "run again" does): a worker holding it keeps it from the reaper.
    ImportJob.objects.unscoped().filter(pk=queued_job.pk).update(status=ImportJob.Status.RUNNING)
    other_worker(queued_job)
    assert reap_orphaned_imports() == []
    queued_job.refresh_from_db()
    assert queued_job.status == ImportJob.Status.RUNNING


def test_a_job_nobody_holds_is_imported_once_and_its_lock_released(queued_job):
    job = run_import(queued_job.pk, tenant_id=queued_job.tenant_id)
    assert job.status == ImportJob.Status.SUCCEEDED and job.rows_loaded == 2
    assert (
        run_import(queued_job.pk, tenant_id=queued_job.tenant_id).rows_loaded == 2
    )  # finished: a second delivery does nothing
    assert Interaction.objects.unscoped().filter(dataset=queued_job.dataset).count() == 2
    assert reap_orphaned_imports() == []
