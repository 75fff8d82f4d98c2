"""Shared fixtures: two tenants with keys, API clients authenticated by key or session."""

import pytest
from rest_framework.test import APIClient

from tenants.selectors import forget_cached_key

from .factories import make_api_key, make_tenant, make_user


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
