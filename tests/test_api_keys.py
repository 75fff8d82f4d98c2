"""API keys: shown once, stored hashed, and every way a key can be refused."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from tenants.models import ApiKey, AuditLog, Tenant

from .conftest import key_client
from .factories import make_api_key

pytestmark = pytest.mark.django_db


def _database_text():
    """Every text value of every tenants table, as one string."""
    chunks = []
    with connection.cursor() as cursor:
        for table in ("tenants_apikey", "tenants_auditlog", "tenants_tenant", "tenants_membership"):
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 (fixed table names)
            chunks.extend(str(value) for row in cursor.fetchall() for value in row)
    return "\n".join(chunks)


def test_created_key_is_shown_once_and_only_its_hash_is_stored(tenant_a):
    response = tenant_a.client.post("/api/v1/api-keys", {"name": "shop", "scopes": ["recommend"]}, format="json")
    assert response.status_code == 201
    full_key = response.json()["key"]
    assert full_key.startswith("rpk_" + response.json()["prefix"] + ".")

    assert full_key not in _database_text()
    assert tenant_a.key not in _database_text()

    listed = tenant_a.client.get("/api/v1/api-keys").json()["results"]
    assert {"shop", "test key"} == {item["name"] for item in listed}
    assert all("key" not in item and "hashed_key" not in item for item in listed)
    assert key_client(full_key).get("/api/v1/tenant").json()["api_key"]["scopes"] == ["recommend"]


def test_whoami_names_tenant_key_and_scopes(tenant_a):
    body = tenant_a.client.get("/api/v1/tenant").json()
    assert body["tenant"]["slug"] == tenant_a.tenant.slug
    assert body["tenant"]["plan"]["api_requests_per_minute"] > 0
    assert body["api_key"]["name"] == "test key"
    assert body["api_key"]["scopes"] == ["recommend", "ingest", "manage"]


@pytest.mark.parametrize(
    "header, code",
    [
        (None, "not_authenticated"),
        ("Api-Key", "malformed_api_key"),
        ("Api-Key not-a-key", "invalid_api_key"),
        ("Api-Key abcdefgh.0123456789abcdef0123456789abcdef", "invalid_api_key"),
    ],
)
def test_missing_malformed_or_unknown_keys_get_401(db, header, code):
    from rest_framework.test import APIClient

    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/tenant")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == code
    assert response["WWW-Authenticate"] == "Api-Key"


def test_revoked_key_gets_401_at_once(tenant_a):
    _, spare = make_api_key(tenant_a.tenant, name="spare")
    spare_id = ApiKey.objects.for_tenant(tenant_a.tenant).get(name="spare").pk
    assert key_client(spare).get("/api/v1/tenant").status_code == 200

    assert tenant_a.client.delete(f"/api/v1/api-keys/{spare_id}").status_code == 204

    response = key_client(spare).get("/api/v1/tenant")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "revoked_api_key"
    assert AuditLog.objects.filter(tenant=tenant_a.tenant, action="api_key.revoked", object_id=str(spare_id)).exists()


def test_expired_key_gets_401(tenant_a):
    api_key, full_key = make_api_key(tenant_a.tenant, name="short", expires_at=timezone.now() + timedelta(hours=1))
    ApiKey.objects.for_tenant(tenant_a.tenant).filter(pk=api_key.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = key_client(full_key).get("/api/v1/tenant")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "expired_api_key"


def test_key_without_scope_gets_403(tenant_a):
    _, recommend_only = make_api_key(tenant_a.tenant, scopes=["recommend"], name="rec")
    response = key_client(recommend_only).get("/api/v1/api-keys")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_scope"
    assert "manage" in response.json()["error"]["message"]


def test_suspended_tenant_keys_get_403_tenant_suspended(tenant_a):
    Tenant.objects.filter(pk=tenant_a.tenant.pk).update(status=Tenant.Status.SUSPENDED)
    response = tenant_a.client.get("/api/v1/tenant")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "tenant_suspended"


def test_bad_key_request_gets_field_errors_in_the_one_shape(tenant_a):
    response = tenant_a.client.post("/api/v1/api-keys", {"name": "x", "scopes": ["admin"]}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert "scopes" in error["details"]
    assert "scopes" in error["message"]


def test_key_with_past_expiry_is_refused(tenant_a):
    response = tenant_a.client.post(
        "/api/v1/api-keys", {"name": "x", "scopes": ["recommend"], "expires_at": "2000-01-01T00:00:00Z"}, format="json"
    )
    assert response.status_code == 400
    assert "future" in response.json()["error"]["message"]


def test_creating_a_key_is_audited_with_the_acting_key(tenant_a):
    tenant_a.client.post("/api/v1/api-keys", {"name": "audited", "scopes": ["ingest"]}, format="json")
    entry = AuditLog.objects.filter(tenant=tenant_a.tenant, action="api_key.created").latest("id")
    assert entry.object_repr.startswith("audited")
    assert entry.actor_api_key_id == tenant_a.api_key.pk
    assert entry.details == {"scopes": ["ingest"]}


def test_last_used_at_is_recorded(tenant_a):
    assert tenant_a.api_key.last_used_at is None
    tenant_a.client.get("/api/v1/tenant")
    tenant_a.api_key.refresh_from_db()
    assert tenant_a.api_key.last_used_at is not None


def test_new_keys_match_the_published_secret_scanner_pattern(tenant_a):
    import re

    from tenants.keys import SCANNER_PATTERN

    full_key = tenant_a.client.post("/api/v1/api-keys", {"name": "ci", "scopes": ["recommend"]}, format="json")
    full_key = full_key.json()["key"]

    assert re.fullmatch(SCANNER_PATTERN, full_key)
    assert SCANNER_PATTERN == r"rpk_[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}"  # the pattern docs/api.md publishes
    assert re.search(SCANNER_PATTERN, f"leaked in a log line: KEY={full_key} at 12:00").group() == full_key


def test_keys_issued_before_the_product_prefix_keep_working(tenant_a):
    from tenants.keys import hash_key

    old_key = "Abcd1234." + "x" * 32
    ApiKey.objects.create(
        tenant=tenant_a.tenant, name="old", prefix="Abcd1234", hashed_key=hash_key(old_key), scopes=["recommend"]
    )

    assert key_client(old_key).get("/api/v1/tenant").json()["api_key"]["name"] == "old"
    # The old key with the new prefix put in front is another string, so it is not the same key.
    assert key_client("rpk_" + old_key).get("/api/v1/tenant").status_code == 401


def test_a_recommend_key_reads_the_catalogue_but_only_an_ingest_key_writes_it(tenant_a):
    _, storefront = make_api_key(tenant_a.tenant, scopes=["recommend"], name="storefront")
    _, ingest = make_api_key(tenant_a.tenant, scopes=["ingest"], name="feeder")
    item = {"items": [{"item_id": "sku-1", "title": "Lamp"}]}

    refused = key_client(storefront).put("/api/v1/items", item, format="json")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "insufficient_scope"
    assert key_client(ingest).put("/api/v1/items", item, format="json").status_code == 200

    assert key_client(storefront).get("/api/v1/items").json()["results"][0]["item_id"] == "sku-1"
    assert key_client(storefront).get("/api/v1/items/sku-1").json()["title"] == "Lamp"
    assert key_client(storefront).delete("/api/v1/items/sku-1").status_code == 403
    assert key_client(ingest).get("/api/v1/items/sku-1").status_code == 200
