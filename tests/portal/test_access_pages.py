"""API keys, members and roles, the organisation's settings, usage and the audit log."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from recommender.data.models import Dataset
from recommender.training.models import ModelConfig
from tenants.models import ApiKey, AuditLog, Membership, Role, Tenant

from ..conftest import key_client
from ..factories import add_member
from .conftest import signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_client(tenant_a):
    return signed_in(tenant_a.owner, tenant_a.tenant)


def test_a_new_key_is_shown_once_and_works_until_revoked(tenant_a, owner_client):
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    response = owner_client.post(
        reverse("portal:api_keys"), {"name": "shop", "scopes": ["recommend", "manage"], "expires_on": tomorrow}
    )
    assert response["Cache-Control"] == "no-store"
    full_key = response.context["issued"].full_key
    page = response.content.decode()
    assert full_key in page
    assert 'data-copy="#new-key"' in page
    api_key = ApiKey.objects.get(tenant=tenant_a.tenant, name="shop")
    assert api_key.scopes == ["recommend", "manage"]
    assert api_key.expires_at.date() == timezone.localdate() + timedelta(days=2)
    assert full_key not in owner_client.get(reverse("portal:api_keys")).content.decode()

    assert key_client(full_key).get("/api/v1/tenant").status_code == 200
    owner_client.post(reverse("portal:api_key_revoke", args=[api_key.pk]))
    assert key_client(full_key).get("/api/v1/tenant").status_code == 401
    assert AuditLog.objects.filter(tenant=tenant_a.tenant, action="api_key.revoked").count() == 1


def test_a_key_needs_a_scope_and_a_future_expiry(owner_client):
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    response = owner_client.post(reverse("portal:api_keys"), {"name": "x", "scopes": [], "expires_on": yesterday})
    assert set(response.context["form"].errors) == {"scopes", "expires_on"}


def test_roles_change_but_the_last_owner_stays(tenant_a, owner_client):
    analyst = add_member(tenant_a.tenant, role=Role.ANALYST)
    membership = Membership.objects.unscoped().get(user=analyst)
    owner_client.post(reverse("portal:member_role", args=[membership.pk]), {"role": Role.ADMIN})
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN

    own = Membership.objects.unscoped().get(user=tenant_a.owner)
    response = owner_client.post(reverse("portal:member_role", args=[own.pk]), {"role": Role.VIEWER}, follow=True)
    assert "needs an owner" in response.content.decode()
    response = owner_client.post(reverse("portal:member_remove", args=[own.pk]), follow=True)
    assert "last owner cannot be removed" in response.content.decode()
    own.refresh_from_db()
    assert own.role == Role.OWNER


def test_admins_manage_members_but_not_owners(tenant_a):
    admin = add_member(tenant_a.tenant, role=Role.ADMIN)
    viewer = add_member(tenant_a.tenant, role=Role.VIEWER)
    client = signed_in(admin, tenant_a.tenant)
    owner = Membership.objects.unscoped().get(user=tenant_a.owner)
    client.post(reverse("portal:member_remove", args=[owner.pk]))
    client.post(
        reverse("portal:member_role", args=[Membership.objects.unscoped().get(user=viewer).pk]), {"role": Role.OWNER}
    )
    assert Membership.objects.unscoped().filter(pk=owner.pk).exists()
    assert Membership.objects.unscoped().get(user=viewer).role == Role.VIEWER

    client.post(reverse("portal:member_remove", args=[Membership.objects.unscoped().get(user=viewer).pk]))
    assert not Membership.objects.unscoped().filter(user=viewer).exists()


def test_a_removed_member_loses_access_at_once(tenant_a, owner_client):
    person = add_member(tenant_a.tenant, role=Role.ANALYST)
    client = signed_in(person, tenant_a.tenant)
    owner_client.post(reverse("portal:member_remove", args=[Membership.objects.unscoped().get(user=person).pk]))
    response = client.get(reverse("portal:datasets"))
    assert response["Location"] == reverse("portal:tenant_create")


def test_the_owner_renames_and_deletes_with_the_slug_typed(tenant_a, tenant_b, owner_client):
    owner_client.post(reverse("portal:tenant_settings"), {"name": "Renamed"})
    assert Tenant.objects.get(pk=tenant_a.tenant.pk).name == "Renamed"

    response = owner_client.post(reverse("portal:tenant_delete"), {"confirmation": "wrong"})
    assert "Type the organisation" in response.content.decode()
    assert Tenant.objects.filter(pk=tenant_a.tenant.pk).exists()

    owner_client.post(reverse("portal:tenant_delete"), {"confirmation": tenant_a.tenant.slug})
    assert not Tenant.objects.filter(pk=tenant_a.tenant.pk).exists()
    assert Tenant.objects.filter(pk=tenant_b.tenant.pk).exists()
    assert key_client(tenant_a.key).get("/api/v1/tenant").status_code == 401
    assert owner_client.get(reverse("portal:dashboard"))["Location"] == reverse("portal:tenant_create")


def test_deleting_takes_the_data_and_models_along(stock_a, tenant_b):
    client = signed_in(stock_a.world.owner, stock_a.world.tenant)
    client.post(reverse("portal:tenant_delete"), {"confirmation": stock_a.world.tenant.slug})
    assert not Tenant.objects.filter(pk=stock_a.world.tenant.pk).exists()
    assert not ModelConfig.objects.unscoped().filter(pk=stock_a.config.pk).exists()
    assert not Dataset.objects.unscoped().filter(pk=stock_a.dataset.pk).exists()


def test_usage_shows_requests_per_day_as_a_chart(tenant_a, owner_client):
    tenant_a.client.get("/api/v1/tenant")
    page = owner_client.get(reverse("portal:usage")).content.decode()
    assert 'role="img" aria-label="API requests per day, last 30 days"' in page
    assert "<rect" in page


def test_the_audit_log_filters_by_action_actor_and_day(tenant_a, owner_client):
    owner_client.post(reverse("portal:api_keys"), {"name": "by hand", "scopes": ["recommend"]})
    old = AuditLog.objects.create(tenant=tenant_a.tenant, action="old.thing")
    AuditLog.objects.unscoped().filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    url = reverse("portal:audit_log")

    def actions(**query):
        return [entry.action for entry in owner_client.get(url, query).context["page"].object_list]

    assert set(actions()) == {"tenant.created", "api_key.created", "old.thing"}
    assert actions(action="old.thing") == ["old.thing"]
    assert actions(actor=f"user:{tenant_a.owner.pk}") == ["api_key.created", "tenant.created"]
    assert "old.thing" not in actions(since=timezone.localdate().isoformat())
    assert actions(until=(timezone.localdate() - timedelta(days=5)).isoformat()) == ["old.thing"]


def test_the_audit_log_takes_the_first_and_last_representable_days(tenant_a, owner_client):
    """The widest range a date field accepts lists everything instead of overflowing into a 500."""
    response = owner_client.get(reverse("portal:audit_log"), {"since": "0001-01-01", "until": "9999-12-31"})
    assert response.status_code == 200
    assert {entry.action for entry in response.context["page"].object_list} == {"tenant.created", "api_key.created"}
