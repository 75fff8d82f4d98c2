"""Fair turns on the shared workers for long jobs of many tenants (batch files now; any sliced job).

A long job runs in slices, one task each; the next slice's task goes to the back of the queue, so a job
another tenant queued meanwhile gets a worker after at most one slice, not after the whole job. A tenant
runs at most its plan's number of such jobs at once: a task that finds its tenant at the limit is sent
again a little later and frees its worker at once, instead of holding it.
"""

from django.conf import settings
from django.db import transaction

from .models import Tenant


def lock_tenant(tenant_id):
    """The tenant, with its plan, locked until the transaction ends (None when it is gone).

    Counting a tenant's running jobs and starting one under this lock keeps the per-tenant limit under races.
    """
    return Tenant.objects.select_for_update().select_related("plan").filter(pk=tenant_id).first()


def may_start(running_count, limit):
    """Whether a job may start beside ``running_count`` others of its tenant (call under :func:`lock_tenant`)."""
    return running_count < limit


def wait_for_a_turn(task, *args):
    """Send ``task`` again after ``TURN_WAIT_SECONDS``: its tenant is at its limit of jobs at once."""
    task.apply_async(args, countdown=settings.PLATFORM["TURN_WAIT_SECONDS"])


def next_turn(task, *args):
    """After commit, send ``task`` for the job's next slice, to the back of the queue."""
    transaction.on_commit(lambda: task.delay(*args))
