"""Shared fixtures: two tenants with keys, API clients authenticated by key or session."""

import pytest
from rest_framework.test import APIClient

from tenants.selectors import forget_cached_key

from .factories import make_api_key, make_tenant, make_user


@pytest.fixture(autouse=True, scope="session")
def _private_storage(tmp_path_factory):
    """Uploads and artifacts of this test session go to a fresh folder (ids restart every session)."""
    from django.conf import settings
    from django.core.files.storage import default_storage
    from django.utils.functional import empty

    settings.MEDIA_ROOT = tmp_path_factory.mktemp("storage")
    default_storage._wrapped = empty


@pytest.fixture(autouse=True)
def _no_tenant_left_bound():
    """A request, task or service that binds a tenant unbinds it: the next test starts (and ends) unbound."""
    from tenants.tenancy import current_tenant_id

    assert current_tenant_id() is None
    yield
    assert current_tenant_id() is None, "a tenant binding outlived its request, task or service"


@pytest.fixture(autouse=True)
def _fresh_key_cache():
    forget_cached_key()
    yield
    forget_cached_key()


class TenantWorld:
    """One tenant with its owner and an all-scopes key, and a client that uses the key."""

    def __init__(self, name):
        self.owner = make_user()
        self.tenant = make_tenant(name=name, owner=self.owner)
        self.api_key, self.key = make_api_key(self.tenant)
        self.client = key_client(self.key)


def key_client(full_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {full_key}")
    return client


@pytest.fixture
def tenant_a(db):
    return TenantWorld("Tenant A")


@pytest.fixture
def tenant_b(db):
    return TenantWorld("Tenant B")


@pytest.fixture(autouse=True)
def _tasks_run_eagerly_unless_a_worker_is_used(request):
    """Tasks run in-process by default; tests with ``celery_worker`` get a real worker instead."""
    from saas_platform.celery import app

    eager = not {"celery_worker", "start_worker"} & set(request.fixturenames)
    # The app reads Django settings under the CELERY_ namespace, so override the namespaced keys.
    app.conf.update(CELERY_TASK_ALWAYS_EAGER=eager, CELERY_TASK_EAGER_PROPAGATES=eager)
    yield
    app.conf.update(CELERY_TASK_ALWAYS_EAGER=False, CELERY_TASK_EAGER_PROPAGATES=False)


@pytest.fixture
def celery_worker(tmp_path, transactional_db):
    """A real Celery worker process on Redis, against the test database."""
    from .worker import WorkerProcess, purge_broker

    purge_broker()
    worker = WorkerProcess(tmp_path)
    yield worker
    worker.stop()


@pytest.fixture
def start_worker(tmp_path, transactional_db):
    """Start extra workers (for kill and concurrency tests); all are stopped afterwards."""
    from .worker import WorkerProcess, purge_broker

    purge_broker()
    started = []

    def start(**kwargs):
        worker = WorkerProcess(tmp_path, **kwargs)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture(autouse=True, scope="session")
def _empty_test_redis():
    """Counters left in the test Redis database by an earlier run would skew rate limits."""
    from core.redis_client import get_redis

    client = get_redis()
    if client is not None:
        client.flushdb()


@pytest.fixture(autouse=True)
def _fresh_sign_up_rates():
    """Every test signs up from 127.0.0.1: hourly sign-up and organisation counters must not carry over."""
    from django.core.cache import cache

    from core.redis_client import get_redis
    from tenants.accounts.throttling import RATE_PREFIX

    client = get_redis()
    if client is None:
        cache.clear()
    else:
        keys = list(client.scan_iter(match=f"*{RATE_PREFIX}*", count=1000))
        if keys:
            client.delete(*keys)
