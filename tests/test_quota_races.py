"""Checks that hold when requests race: fired from threads at once, against the real database.

The attacks: two owners demoting themselves at the same moment left an organisation with no owner; eight
train requests with one run left in the day's quota let two through in 3 of 4 rounds.
"""

import threading

import pytest
from django.db import connection

from recommender.training.models import TrainingRun
from recommender.training.services.configs import create_config
from recommender.training.services.runs import QuotaError, request_training
from saas_platform.celery import app
from tenants.accounts.services import change_member_role
from tenants.audit import Actor
from tenants.models import Membership, Role
from tenants.services import TenantError

from .factories import add_member, make_interactions_dataset
from .worker import purge_broker

pytestmark = pytest.mark.django_db(transaction=True)


def _race(*calls):
    """Run each call in its own thread, all released at once; return what each returned or raised."""
    start, outcomes = threading.Barrier(len(calls)), [None] * len(calls)

    def run(position, call):
        start.wait()
        try:
            outcomes[position] = call()
        except Exception as exc:  # noqa: BLE001 - the outcome under test
            outcomes[position] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=item) for item in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes


@pytest.mark.parametrize("round_", range(4))
def test_two_owners_stepping_down_at_once_leave_one_owner(tenant_a, round_):
    tenant = tenant_a.tenant
    second = add_member(tenant, role=Role.OWNER)
    memberships = {m.user_id: m for m in Membership.objects.filter(tenant=tenant, role=Role.OWNER)}
    assert len(memberships) == 2

    def step_down(user):
        return lambda: change_member_role(
            actor=Actor(tenant=tenant, user=user),
            membership=Membership.objects.for_tenant(tenant).get(pk=memberships[user.pk].pk),
            role=Role.ADMIN,
        )  # fmt: skip

    outcomes = _race(step_down(tenant_a.owner), step_down(second))
    refused = [outcome for outcome in outcomes if isinstance(outcome, TenantError)]
    assert len(refused) == 1, outcomes
    assert "needs an owner" in str(refused[0])
    assert Membership.objects.filter(tenant=tenant, role=Role.OWNER).count() == 1


@pytest.fixture
def queued_not_run():
    """Runs are queued on the real broker and left there: this test is about the quota, not training."""
    app.conf.update(CELERY_TASK_ALWAYS_EAGER=False)
    purge_broker()
    yield
    purge_broker()


@pytest.mark.parametrize("round_", range(4))
def test_eight_train_requests_for_the_last_run_of_the_day_let_one_through(tenant_a, queued_not_run, round_):
    tenant = tenant_a.tenant
    tenant.plan.max_training_runs_per_day = 3
    tenant.plan.save()
    actor = Actor(tenant=tenant)
    config = create_config(actor=actor, name="Recs", dataset=make_interactions_dataset(tenant))
    for _ in range(2):
        request_training(actor=actor, config=config)

    outcomes = _race(*[lambda: request_training(actor=actor, config=config)] * 8)
    assert sum(isinstance(outcome, TrainingRun) for outcome in outcomes) == 1, outcomes
    assert sum(isinstance(outcome, QuotaError) for outcome in outcomes) == 7, outcomes
    assert TrainingRun.objects.filter(tenant=tenant).count() == 3
