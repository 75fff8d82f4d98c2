"""Model configs created concurrently for one tenant: the checks hold under a race."""

import threading

import pytest
from django.db import connection

from recommender.training.models import ModelConfig
from recommender.training.services.configs import ConfigError, QuotaError, create_config
from tenants.audit import Actor

from ..factories import make_interactions_dataset

pytestmark = pytest.mark.django_db(transaction=True)


def _race(actor, dataset, count, **options):
    """Call create_config from ``count`` threads at once; return what each got (config or error)."""
    start, outcomes = threading.Barrier(count), []

    def create():
        start.wait()
        try:
            outcomes.append(create_config(actor=actor, name="Shop recs", dataset=dataset, **options))
        except (ConfigError, QuotaError) as exc:
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=create) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return outcomes


def test_the_same_slug_requested_twice_at_once_gives_one_model_and_a_clear_error(tenant_a):
    dataset = make_interactions_dataset(tenant_a.tenant)
    outcomes = _race(Actor(tenant=tenant_a.tenant), dataset, 4, slug="recs")

    created = [outcome for outcome in outcomes if isinstance(outcome, ModelConfig)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, ConfigError)]
    assert len(created) == 1 and len(refused) == 3, outcomes
    assert all("already exists" in refused_one.errors["slug"] for refused_one in refused)
    assert list(ModelConfig.objects.filter(tenant=tenant_a.tenant).values_list("slug", flat=True)) == ["recs"]


def test_the_model_quota_holds_when_creations_race(tenant_a):
    plan = tenant_a.tenant.plan
    plan.max_models = 2
    plan.save()
    dataset = make_interactions_dataset(tenant_a.tenant)
    outcomes = _race(Actor(tenant=tenant_a.tenant), dataset, 4)

    assert sum(isinstance(outcome, ModelConfig) for outcome in outcomes) == 2, outcomes
    assert sum(isinstance(outcome, QuotaError) for outcome in outcomes) == 2, outcomes
    assert sorted(ModelConfig.objects.filter(tenant=tenant_a.tenant).values_list("slug", flat=True)) == [
        "shop-recs",
        "shop-recs-2",
    ]
