"""Operators: the Django admin pages, the create_tenant command, production settings."""

import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from tenants.keys import hash_key
from tenants.models import ApiKey, AuditLog, Membership, Tenant

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def operator_client(client, db):
    operator = get_user_model().objects.create_superuser("operator", "op@example.com", "operator-password-1")
    client.force_login(operator)
    return client


def test_admin_pages_load_for_a_superuser(operator_client, tenant_a):
    for model in (Tenant, Membership, ApiKey, AuditLog):
        opts = model._meta
        changelist = operator_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        assert changelist.status_code == 200, opts.model_name
    tenant_page = operator_client.get(reverse("admin:tenants_tenant_change", args=[tenant_a.tenant.pk]))
    assert tenant_page.status_code == 200
    key_page = operator_client.get(reverse("admin:tenants_apikey_change", args=[tenant_a.api_key.pk]))
    assert key_page.status_code == 200
    assert tenant_a.api_key.hashed_key not in key_page.content.decode()


def test_admin_tenant_list_shows_status_plan_and_members_and_searches(operator_client, tenant_a, tenant_b):
    page = operator_client.get(reverse("admin:tenants_tenant_changelist"), {"q": "tenant-a"}).content.decode()
    assert "Tenant A" in page and "Tenant B" not in page
    assert "standard" in page and "Active" in page


def test_admin_suspend_action_blocks_the_tenants_keys(operator_client, tenant_a):
    response = operator_client.post(
        reverse("admin:tenants_tenant_changelist"), {"action": "suspend", "_selected_action": [tenant_a.tenant.pk]}
    )
    assert response.status_code == 302
    assert tenant_a.client.get("/api/v1/tenant").json()["error"]["code"] == "tenant_suspended"
    assert AuditLog.objects.filter(tenant=tenant_a.tenant, action="tenant.suspended").exists()

    operator_client.post(
        reverse("admin:tenants_tenant_changelist"), {"action": "activate", "_selected_action": [tenant_a.tenant.pk]}
    )
    assert tenant_a.client.get("/api/v1/tenant").status_code == 200


def test_admin_revoke_action(operator_client, tenant_a):
    operator_client.post(
        reverse("admin:tenants_apikey_changelist"), {"action": "revoke", "_selected_action": [tenant_a.api_key.pk]}
    )
    assert tenant_a.client.get("/api/v1/tenant").status_code == 401


def test_audit_log_is_read_only_in_admin(operator_client, tenant_a):
    entry = AuditLog.objects.filter(tenant=tenant_a.tenant).first()
    response = operator_client.post(reverse("admin:tenants_auditlog_delete", args=[entry.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert AuditLog.objects.filter(tenant=tenant_a.tenant, pk=entry.pk).exists()


def test_create_tenant_command_prints_a_working_key_once(db):
    out = StringIO()
    call_command("create_tenant", "Gamma Retail", "--owner", "gina", "--password", "a-long-password-42", stdout=out)
    full_key = next(line.split()[-1] for line in out.getvalue().splitlines() if line.startswith("API key:"))
    tenant = Tenant.objects.get(slug="gamma-retail")
    assert Membership.objects.get(tenant=tenant).role == "owner"
    stored = ApiKey.objects.get(tenant=tenant)
    assert stored.hashed_key == hash_key(full_key) and full_key not in stored.hashed_key

    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {full_key}")
    assert client.get("/api/v1/tenant").json()["tenant"]["name"] == "Gamma Retail"


def test_api_docs_and_schema_are_served(client, db):
    assert client.get("/api/v1/docs/").status_code == 200
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert "/api/v1/api-keys" in schema["paths"]
    assert "/api/v1/tenant" in schema["paths"]


def test_production_settings_pass_check_deploy():
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "a-real-secret-" + "x" * 60,
        "ALLOWED_HOSTS": "platform.example.com",
        "DATABASE_URL": "sqlite:///:memory:",
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_refuse_to_start_without_a_secret():
    env = {**os.environ, "DEBUG": "0", "SECRET_KEY": ""}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_every_api_operation_documents_the_error_shape(client, db):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    error = schema["components"]["schemas"]["Error"]
    assert error["properties"]["error"]["required"] == ["code", "message", "details"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for status in ("400", "401", "403", "404", "429"):
                assert status in operation["responses"], f"{method.upper()} {path} lacks {status}"


def test_production_settings_refuse_to_start_with_mails_going_to_the_log():
    env = {**os.environ, "DEBUG": "0", "SECRET_KEY": "a-real-secret-" + "x" * 60, "EMAIL_BACKEND": ""}
    env.pop("EMAIL_CONSOLE_OPT_IN", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "set EMAIL_BACKEND to a real backend" in result.stderr


def test_the_image_starts_with_debug_off():
    """Run without compose (or with a compose that forgets DEBUG), the image must not serve debug pages."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ENV .*\bDEBUG=0\b", dockerfile, re.MULTILINE), dockerfile


@pytest.mark.django_db
def test_the_admin_sign_in_shares_the_portals_lock():
    """Twelve wrong passwords on /admin/login/ all answered 200 and the admin still let the operator in."""
    from django.test import Client

    from tenants.accounts import throttling

    get_user_model().objects.create_superuser("root-admin-lock", "root@example.com", "operator-password-1")
    browser = Client()
    for _ in range(throttling.MAX_FAILURES):
        browser.post("/admin/login/", {"username": "root-admin-lock", "password": "wrong"})
    locked = browser.post(
        "/admin/login/?next=/admin/", {"username": "root-admin-lock", "password": "operator-password-1"}
    )
    assert locked.status_code == 200 and "Too many failed sign-ins" in locked.content.decode()
    assert "_auth_user_id" not in browser.session
    # One lock for every sign-in form: locked in the admin is locked in the portal.
    portal = Client().post(reverse("login"), {"username": "root-admin-lock", "password": "operator-password-1"})
    assert "Too many failed sign-ins" in portal.content.decode()
