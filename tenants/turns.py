"""Fair turns on the shared workers: per-tenant limits and fair ordering for every queue of long jobs.

Every queue of long jobs (imports, training runs, batch files) starts a job only when its tenant has a
turn (:func:`has_a_turn`, called under :func:`lock_tenant` by the code that claims the job):

- a tenant runs at most its plan's number of that queue's jobs at once (``Plan.max_concurrent_imports``,
  ``max_concurrent_trainings``, ``max_concurrent_batch_jobs``);
- a tenant that already runs one of that queue's jobs yields to any other tenant that has a job waiting
  there and runs fewer (and is under its own limit): a freed worker goes to the tenant running least,
  so one tenant's many jobs share the workers with another tenant's one, instead of queueing it behind.

A job without a turn is sent again after ``TURN_WAIT_SECONDS`` (:func:`wait_for_a_turn`) and frees its
worker at once, so the message of another tenant's job behind it in the queue is reached in
milliseconds, not after the whole backlog. The waiting jobs are the job rows still queued: the pending
list is the database, and nothing is lost when the broker forgets its messages. Only a tenant that
already runs a job ever yields, so every tenant keeps making progress, whatever the others' rows say.

A long job can also run in slices (batch files), each slice a task sent to the back of the queue
(:func:`next_turn`): a job another tenant queued meanwhile gets a worker after at most one slice.
"""

from django.conf import settings
from django.db import transaction
from django.db.models import Count

from .models import Tenant


def lock_tenant(tenant_id):
    """The tenant, with its plan, locked until the transaction ends (None when it is gone).

    Counting a tenant's running jobs and starting one under this lock keeps the per-tenant limit under races.
    Only the tenant's row is locked (``of``): the plan's row is shared by every tenant on the plan, and
    locking it made each tenant's claims wait for every other's. ``no_key``: the tenant's key never
    changes here, so rows being inserted for the tenant (their foreign-key checks) are not held up.
    """
    tenants = Tenant.objects.select_for_update(no_key=True, of=("self",)).select_related("plan")
    return tenants.filter(pk=tenant_id).first()


def may_start(running_count, limit):
    """Whether a job may start beside ``running_count`` others of its tenant (call under :func:`lock_tenant`)."""
    return running_count < limit


def has_a_turn(*, tenant, jobs, limit_field, waiting, running) -> bool:
    """Whether ``tenant`` may start one more job of a queue now (call under :func:`lock_tenant`).

    ``jobs`` is the job model's default manager, ``waiting`` and ``running`` the filters (``Q``) of its
    queued and running rows, ``limit_field`` the plan's field of jobs at once.
    """
    mine = jobs.for_tenant(tenant).filter(running).count()
    if not may_start(mine, getattr(tenant.plan, limit_field)):
        return False
    if mine == 0:
        return True  # a tenant running nothing never yields: everyone keeps making progress
    # cross-tenant: fair ordering compares this tenant's running jobs with other tenants' waiting ones
    # (counts and tenant ids only; no row of theirs is read).
    # Unscoped from the manager: inside a bound tenant the default manager would see only that tenant.
    others = set(jobs.unscoped().filter(waiting).exclude(tenant=tenant).values_list("tenant_id", flat=True).distinct())
    if not others:
        return True
    # cross-tenant: the same comparison, counting the waiting tenants' running jobs.
    counts = jobs.unscoped().filter(running, tenant_id__in=others).values("tenant_id").annotate(n=Count("pk"))
    busy = dict(counts.values_list("tenant_id", "n"))
    limits = dict(Tenant.objects.filter(pk__in=others).values_list("pk", f"plan__{limit_field}"))
    # Another tenant with a job waiting, running fewer than this one and allowed one more, goes first.
    return not any(busy.get(other, 0) < min(mine, limits.get(other, 0)) for other in others)


def wait_for_a_turn(task, *args, **options):
    """Send ``task`` again after ``TURN_WAIT_SECONDS``: its tenant has no turn now (see :func:`has_a_turn`)."""
    task.apply_async(args, countdown=settings.PLATFORM["TURN_WAIT_SECONDS"], **options)


def next_turn(task, *args):
    """After commit, send ``task`` for the job's next slice, to the back of the queue."""
    transaction.on_commit(lambda: task.delay(*args))
