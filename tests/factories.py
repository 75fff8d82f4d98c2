"""Factories for test data: tenants, people, memberships and API keys."""

import itertools

from django.contrib.auth import get_user_model

from tenants.audit import Actor
from tenants.models import Membership, Role
from tenants.services import create_tenant, issue_api_key

_counter = itertools.count(1)


def make_user(username=None, password="correct-horse-battery-staple"):
    username = username or f"user{next(_counter)}"
    return get_user_model().objects.create_user(username=username, email=f"{username}@example.com", password=password)


def make_tenant(name=None, owner=None):
    name = name or f"Tenant {next(_counter)}"
    return create_tenant(name=name, owner=owner or make_user())


def add_member(tenant, user=None, role=Role.VIEWER):
    user = user or make_user()
    Membership.objects.create(tenant=tenant, user=user, role=role)
    return user


def make_api_key(tenant, scopes=("recommend", "ingest", "manage"), name="test key", **kwargs):
    """Return ``(ApiKey, full_key)``."""
    issued = issue_api_key(actor=Actor.system(tenant), name=name, scopes=list(scopes), **kwargs)
    return issued.api_key, issued.full_key
