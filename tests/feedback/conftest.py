"""A tenant with a deployed model, and a way to run the periodic aggregation as beat would."""

import pytest

from core.redis_client import get_redis
from recommender.feedback import impressions
from recommender.feedback.services import aggregate_metrics
from recommender.serving.loader import forget_all

from ..serving.conftest import train_model


@pytest.fixture(autouse=True)
def _no_leftover_impressions():
    """Impressions queued or listed by an earlier test belong to rolled-back tenants: start empty."""
    impressions.flush()
    impressions.discard_queued()
    get_redis().delete(impressions.REDIS_LIST)
    forget_all()
    yield
    forget_all()


def settle():
    """Send this process's queued impressions, then run the periodic aggregation once."""
    impressions.flush()
    return aggregate_metrics()


@pytest.fixture
def served(tenant_a, django_capture_on_commit_callbacks):
    """Tenant A with an EASE model 'recs' deployed (version 1)."""
    tenant_a.dataset = train_model(tenant_a, django_capture_on_commit_callbacks)
    return tenant_a
