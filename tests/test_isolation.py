"""Two tenants side by side: B never reads, lists, changes or learns of A's objects."""

import pytest

from tenants.models import ApiKey

pytestmark = pytest.mark.django_db


def test_foreign_api_key_is_404_for_read_and_revoke(tenant_a, tenant_b):
    foreign_id = tenant_a.api_key.pk
    missing_id = ApiKey.objects.unscoped().order_by("-pk").first().pk + 1000
    for key_id in (foreign_id, missing_id):
        read = tenant_b.client.get(f"/api/v1/api-keys/{key_id}")
        revoke = tenant_b.client.delete(f"/api/v1/api-keys/{key_id}")
        assert read.status_code == 404 and revoke.status_code == 404
        assert read.json()["error"]["code"] == "not_found"
    # A foreign id answers exactly like a missing one: nothing to learn.
    assert (
        tenant_b.client.get(f"/api/v1/api-keys/{foreign_id}").json()
        == tenant_b.client.get(f"/api/v1/api-keys/{missing_id}").json()
    )
    tenant_a.api_key.refresh_from_db()
    assert tenant_a.api_key.revoked_at is None


def test_lists_hold_only_own_objects(tenant_a, tenant_b):
    a_ids = {item["id"] for item in tenant_a.client.get("/api/v1/api-keys").json()["results"]}
    b_ids = {item["id"] for item in tenant_b.client.get("/api/v1/api-keys").json()["results"]}
    assert a_ids == {tenant_a.api_key.pk}
    assert b_ids == {tenant_b.api_key.pk}
    assert tenant_b.client.get("/api/v1/tenant").json()["tenant"]["slug"] == tenant_b.tenant.slug


def test_scoped_views_refuse_to_override_get_queryset():
    from tenants.scoping import TenantScopedViewSet

    with pytest.raises(TypeError, match="scoped_queryset"):

        class Leaky(TenantScopedViewSet):  # noqa: F841 - defining it is the test
            def get_queryset(self):
                return ApiKey.objects.unscoped().all()
