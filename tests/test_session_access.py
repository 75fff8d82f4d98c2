"""Signed-in people reach the API for their selected tenant, gated by role."""

import pytest
from rest_framework.test import APIClient

from tenants.middleware import SESSION_KEY
from tenants.models import Role

from .factories import add_member, make_user

pytestmark = pytest.mark.django_db


def _session_client(user, tenant=None):
    client = APIClient()
    client.force_login(user)
    if tenant is not None:
        session = client.session
        session[SESSION_KEY] = tenant.pk
        session.save()
    return client


def test_member_of_two_tenants_sees_only_the_selected_one(tenant_a, tenant_b):
    person = make_user()
    add_member(tenant_a.tenant, person, Role.ADMIN)
    add_member(tenant_b.tenant, person, Role.ADMIN)

    in_a = _session_client(person, tenant_a.tenant)
    assert in_a.get("/api/v1/tenant").json()["tenant"]["slug"] == tenant_a.tenant.slug
    assert {k["id"] for k in in_a.get("/api/v1/api-keys").json()["results"]} == {tenant_a.api_key.pk}
    assert in_a.get(f"/api/v1/api-keys/{tenant_b.api_key.pk}").status_code == 404

    in_b = _session_client(person, tenant_b.tenant)
    assert {k["id"] for k in in_b.get("/api/v1/api-keys").json()["results"]} == {tenant_b.api_key.pk}


def test_selecting_a_tenant_one_is_not_a_member_of_falls_back_to_ones_own(tenant_a, tenant_b):
    person = add_member(tenant_a.tenant, role=Role.VIEWER)
    client = _session_client(person, tenant_b.tenant)
    assert client.get("/api/v1/tenant").json()["tenant"]["slug"] == tenant_a.tenant.slug


@pytest.mark.parametrize(
    "role, status", [(Role.VIEWER, 403), (Role.ANALYST, 403), (Role.ADMIN, 200), (Role.OWNER, 200)]
)
def test_api_keys_need_the_admin_role(tenant_a, role, status):
    person = add_member(tenant_a.tenant, role=role)
    response = _session_client(person).get("/api/v1/api-keys")
    assert response.status_code == status
    if status == 403:
        assert response.json()["error"]["code"] == "insufficient_role"


def test_person_without_a_tenant_is_told_to_select_one(db):
    response = _session_client(make_user()).get("/api/v1/tenant")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "no_tenant_selected"


def test_session_writes_need_the_csrf_token(tenant_a):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(tenant_a.owner)
    response = client.post("/api/v1/api-keys", {"name": "x", "scopes": ["recommend"]}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]
