"""Erasure, pseudonymised user ids and encrypted sensitive columns."""

import pytest
from django.db import connection

from recommender.data import frames, selectors
from recommender.data.models import EndUser, ErasedUser, Interaction, Item
from recommender.data.privacy import MASK, pseudonymize_user_id, user_key
from tenants.models import AuditLog

pytestmark = pytest.mark.django_db


def send(world, events):
    return world.client.post("/api/v1/events", {"events": events}, format="json").json()


def pseudonymise(world):
    response = world.client.patch("/api/v1/data-settings", {"pseudonymize_user_ids": True}, format="json")
    assert response.status_code == 200 and response.json()["pseudonymize_user_ids"] is True


def database_text():
    """Everything the data tables hold, as text, to look for a raw value anywhere."""
    with connection.cursor() as cursor:
        chunks = []
        for table in ("data_interaction", "data_enduser", "data_eraseduser", "data_importjob", "tenants_auditlog"):
            cursor.execute(f"SELECT t::text FROM {table} t")  # noqa: S608 - fixed names
            chunks.extend(row[0] for row in cursor.fetchall())
    return "\n".join(chunks)


def test_erasure_removes_interactions_and_features_and_is_audited(tenant_a, tenant_b, make_dataset, upload):
    users = make_dataset(tenant_a, kind="users")
    upload(tenant_a, users, "user_id,age\nalice,31\nbob,40\n")
    send(tenant_a, [{"user_id": "alice", "item_id": f"i{n}"} for n in range(3)] + [{"user_id": "bob", "item_id": "i1"}])
    send(tenant_b, [{"user_id": "alice", "item_id": "i1"}])

    response = tenant_a.client.delete("/api/v1/users/alice")
    assert response.status_code == 200
    assert response.json() == {
        "interactions_deleted": 3,
        "features_deleted": 1,
        "uploads_deleted": 0,
        "batch_files_deleted": 0,
    }
    tenant = tenant_a.tenant
    assert set(Interaction.objects.for_tenant(tenant).values_list("user_id", flat=True)) == {"bob"}
    assert list(EndUser.objects.for_tenant(tenant).values_list("user_id", flat=True)) == ["bob"]
    assert Interaction.objects.for_tenant(tenant_b.tenant).filter(user_id="alice").count() == 1
    assert selectors.is_erased_user(tenant, "alice") and not selectors.is_erased_user(tenant, "bob")
    assert not selectors.is_erased_user(tenant_b.tenant, "alice")
    entry = AuditLog.objects.get(tenant=tenant, action="end_user.erased")
    assert entry.details["interactions_deleted"] == 3 and entry.actor_api_key == tenant_a.api_key
    assert "alice" not in str(entry.details) and "alice" not in ErasedUser.objects.unscoped().get().user_digest
    events = tenant_a.client.get("/api/v1/datasets").json()["results"]
    assert {d["name"]: d["row_count"] for d in events}["events"] == 1
    again = tenant_a.client.delete("/api/v1/users/nobody")
    assert again.json() == {
        "interactions_deleted": 0,
        "features_deleted": 0,
        "uploads_deleted": 0,
        "batch_files_deleted": 0,
    }


def test_pseudonymised_ids_never_reach_the_database_and_erasure_by_raw_id_works(tenant_a, make_dataset, upload):
    pseudonymise(tenant_a)
    tenant = tenant_a.tenant
    send(tenant_a, [{"user_id": "alice@example.com", "item_id": "i1"}, {"user_id": "bob@example.com", "item_id": "i2"}])
    upload(tenant_a, make_dataset(tenant_a), "user_id,item_id\nalice@example.com,i3\n")
    upload(tenant_a, make_dataset(tenant_a, kind="users"), "user_id,age\nalice@example.com,31\n")
    assert "alice@example.com" not in database_text() and "bob@example.com" not in database_text()

    alice = user_key(tenant, "alice@example.com")
    assert alice == pseudonymize_user_id(tenant, "alice@example.com") and len(alice) == 32
    assert selectors.seen_item_ids(tenant, alice) == {"i1", "i3"}
    assert list(frames.users_frame(tenant)["user_id"]) == [alice]

    erased = tenant_a.client.delete("/api/v1/users/alice@example.com").json()
    assert erased == {"interactions_deleted": 2, "features_deleted": 1, "uploads_deleted": 0, "batch_files_deleted": 0}
    assert selectors.is_erased_user(tenant, alice)
    assert set(Interaction.objects.for_tenant(tenant).values_list("user_id", flat=True)) == {
        user_key(tenant, "bob@example.com")
    }


def test_pseudonyms_differ_between_tenants(tenant_a, tenant_b):
    assert pseudonymize_user_id(tenant_a.tenant, "u1") != pseudonymize_user_id(tenant_b.tenant, "u1")
    assert user_key(tenant_a.tenant, "u1") == "u1"  # pseudonymisation is off by default


def test_pseudonymisation_cannot_be_switched_once_user_data_is_stored(tenant_a):
    send(tenant_a, [{"user_id": "u1", "item_id": "i1"}])
    response = tenant_a.client.patch("/api/v1/data-settings", {"pseudonymize_user_ids": True}, format="json")
    assert response.status_code == 409 and "Erase the data first" in response.json()["error"]["message"]


def test_sensitive_columns_are_encrypted_at_rest_masked_in_the_admin_and_decrypted_for_training(
    tenant_a, make_dataset, upload, admin_client
):
    users = make_dataset(tenant_a, kind="users", sensitive_columns=["income"])
    _, job = upload(tenant_a, users, "user_id,income,country\nu1,52000,PT\nu2,61000,ES\n")
    assert job["status"] == "succeeded", job
    assert "52000" not in database_text()
    stored = EndUser.objects.unscoped().get(user_id="u1").features
    assert stored["country"] == "PT" and set(stored["income"]) == {"$enc"}

    frame = frames.users_frame(tenant_a.tenant).set_index("user_id")
    assert frame.loc["u1", "income"] == 52000 and frame.loc["u2", "country"] == "ES"

    page = admin_client.get(f"/admin/data/enduser/{EndUser.objects.unscoped().get(user_id='u1').pk}/change/")
    assert page.status_code == 200
    assert MASK in page.content.decode() and "52000" not in page.content.decode()


def test_sensitive_catalogue_features_are_masked_in_the_api(tenant_a, make_dataset):
    make_dataset(tenant_a, kind="items", sensitive_columns=["cost"])
    tenant_a.client.put("/api/v1/items", [{"item_id": "i1", "features": {"cost": 3.5, "colour": "red"}}], format="json")
    assert tenant_a.client.get("/api/v1/items/i1").json()["features"] == {"cost": MASK, "colour": "red"}
    assert set(Item.objects.unscoped().get().features["cost"]) == {"$enc"}
    assert frames.items_frame(tenant_a.tenant).loc[0, "cost"] == 3.5
