"""Quotas cannot be escaped by creating organisations.

The attack: a person on a small plan created three organisations, each on the largest plan, with working
keys; sign-up was unthrottled. Now self-service organisations get the operator's restricted plan, a person
owns a bounded number without an operator's approval, and sign-up and organisation creation are throttled.
"""

import html

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from tenants.models import SELF_SERVICE_LIMITS, Membership, Plan, Role, Tenant

from ..factories import make_tenant, make_user

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-enough-passphrase-42"


def _sign_up(name, address="203.0.113.7"):
    return Client(REMOTE_ADDR=address).post(
        reverse("signup"),
        {
            "username": name,
            "email": f"{name}@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "organisation": f"{name} Ltd",
        },
    )


def _signed_in(user):
    client = Client()
    client.force_login(user)
    return client


def test_sign_up_gets_the_operators_restricted_plan_not_the_largest(settings):
    assert _sign_up("ana").status_code == 302
    plan = Tenant.objects.get(slug="ana-ltd").plan
    assert plan.name == "trial"
    assert {name: getattr(plan, name) for name in SELF_SERVICE_LIMITS} == SELF_SERVICE_LIMITS
    assert plan.max_rows < Plan.get_default().max_rows

    settings.SELF_SERVICE_PLAN = "starter"
    starter = Plan.objects.create(name="starter", max_rows=500)
    assert _sign_up("ben").status_code == 302
    assert Tenant.objects.get(slug="ben-ltd").plan == starter


def test_a_person_owns_at_most_n_organisations_until_an_operator_approves_more(settings):
    settings.MAX_OWNED_ORGANISATIONS = 2
    person = make_user()
    make_tenant(owner=person)
    client = _signed_in(person)
    assert client.post(reverse("portal:tenant_create"), {"name": "Second"}).status_code == 302

    refused = client.post(reverse("portal:tenant_create"), {"name": "Third"})
    assert refused.status_code == 403
    assert "the most a person may own without an operator's approval" in html.unescape(refused.content.decode())
    assert Membership.objects.unscoped().filter(user=person, role=Role.OWNER).count() == 2

    person.user_permissions.add(Permission.objects.get(codename="add_tenant"))
    assert _signed_in(person).post(reverse("portal:tenant_create"), {"name": "Third"}).status_code == 302
    assert Tenant.objects.get(name="Third").plan.name == "trial"


def test_sign_ups_from_one_address_are_throttled_and_others_are_not(settings):
    settings.SIGNUPS_PER_HOUR = 2
    assert [_sign_up(f"p{n}").status_code for n in range(3)] == [302, 302, 429]
    assert "Too many sign-ups from your address" in _sign_up("p9").content.decode()
    assert not Tenant.objects.filter(slug__in=["p2-ltd", "p9-ltd"]).exists()
    assert _sign_up("q1", address="198.51.100.4").status_code == 302


def test_organisation_creation_is_throttled_per_person(settings):
    settings.ORGANISATIONS_PER_HOUR = 2
    settings.MAX_OWNED_ORGANISATIONS = 10
    client = _signed_in(make_user())
    answers = [client.post(reverse("portal:tenant_create"), {"name": f"Org {n}"}).status_code for n in range(3)]
    assert answers == [302, 302, 429]
    assert not Tenant.objects.filter(name="Org 2").exists()
