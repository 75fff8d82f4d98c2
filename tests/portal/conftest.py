"""Fixtures of the portal tests: signed-in clients by role, and a tenant with data in it."""

from dataclasses import dataclass

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from recommender.data import services as data_services
from recommender.data.models import Dataset
from recommender.training.services import configs, runs
from tenants.audit import Actor

from ..factories import add_member

CLICKS_CSV = (
    "user_id,item_id,timestamp,event_type\n"
    + "".join(
        f"u{user},i{(user * 3 + step) % 12},2026-01-{1 + (user + step) % 28:02d}T10:00:00Z,view\n"
        for user in range(20)
        for step in range(6)
    )
).encode()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Real hashers take a good part of a second per password on purpose; these tests make many."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def signed_in(user, tenant=None, **client_options):
    """A test client with ``user`` signed in and, when given, working in ``tenant`` (picked with the switcher)."""
    client = Client(**client_options)
    client.force_login(user)
    if tenant is not None:
        client.post(reverse("portal:switch_tenant"), {"tenant": tenant.pk})
    return client


@pytest.fixture
def client_as(tenant_a):
    """``client_as(role)``: a client signed in as a new member of tenant A with ``role``."""

    def make(role):
        return signed_in(add_member(tenant_a.tenant, role=role), tenant_a.tenant)

    return make


def upload(name, content):
    return SimpleUploadedFile(name, content, content_type="text/csv")


def load_clicks(tenant, name="clicks", content=CLICKS_CSV):
    """An interactions dataset of ``tenant`` with the CSV imported (imports run eagerly in tests)."""
    actor = Actor.system(tenant)
    dataset = data_services.create_dataset(actor=actor, name=name, kind=Dataset.Kind.INTERACTIONS)
    job = data_services.start_import(
        actor=actor, dataset=dataset, upload=upload(f"{name}.csv", content), options={"on_error": "skip"}
    )
    return dataset, job


def train(tenant, dataset, recipe="ease", params=None, name=None):
    """A model config trained once (training runs eagerly); returns the config and its run."""
    actor = Actor.system(tenant)
    config = configs.create_config(actor=actor, name=name or recipe, dataset=dataset, recipe=recipe, params=params)
    run = runs.request_training(actor=actor, config=config)
    return config, run


@dataclass
class Stock:
    """What a tenant has once set up: an imported dataset and a model trained and deployed on it."""

    world: object
    dataset: object
    job: object
    config: object
    run: object


def stock(world):
    dataset, job = load_clicks(world.tenant)
    # Slugs are per tenant: distinct ones make a look-up of the other tenant's model meaningful.
    config, run = train(world.tenant, dataset, name=f"ease of {world.tenant.slug}")
    return Stock(world, dataset, job, config, run)


@pytest.fixture
def clicks_a(tenant_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return load_clicks(tenant_a.tenant)


@pytest.fixture
def stock_a(tenant_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return stock(tenant_a)


@pytest.fixture
def stock_b(tenant_b, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return stock(tenant_b)
