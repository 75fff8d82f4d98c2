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


def make_interactions_dataset(tenant, n_users=40, n_items=60, per_user=8, seed=0, name="clicks"):
    """An interactions dataset with planted taste: users of group g mostly pick items of group g.

    Each user's events are spread over time so the leave-last-out split has a latest one.
    """
    import random
    from datetime import UTC, datetime, timedelta

    from recommender.data.models import Dataset, Interaction

    rng = random.Random(seed)
    dataset = Dataset.objects.create(tenant=tenant, name=name, kind=Dataset.Kind.INTERACTIONS)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    groups = 4
    rows = []
    for user in range(n_users):
        taste = user % groups
        liked = [item for item in range(n_items) if item % groups == taste]
        picks = rng.sample(liked, min(per_user - 1, len(liked))) + [rng.randrange(n_items)]
        for step, item in enumerate(picks):
            rows.append(
                Interaction(
                    tenant=tenant,
                    dataset=dataset,
                    user_id=f"u{user}",
                    item_id=f"i{item}",
                    timestamp=start + timedelta(days=user % 7, hours=step),
                    event_type="view",
                )
            )
    Interaction.objects.bulk_create(rows)
    Dataset.objects.for_tenant(tenant).filter(pk=dataset.pk).update(row_count=len(rows))
    dataset.refresh_from_db()
    return dataset
