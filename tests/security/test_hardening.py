"""Hardening: headers, HTTPS, secrets kept out of logs and error pages, passwords, sign-in throttling,
private uploads and storage paths no name can escape.

``check --deploy`` on the production settings is tested in tests/test_operators.py.
"""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import URLPattern, get_resolver
from django.views import static

from recommender.data.models import ImportJob
from recommender.data.services import create_dataset
from tenants.accounts import throttling
from tenants.audit import Actor
from tenants.models import ApiKey, AuditLog

from ..worker import _database_url_of_test_db

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-battery-staple"
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _session(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_api_and_portal_answers_carry_the_security_headers(tenant_a):
    answers = {
        "API (key)": tenant_a.client.get("/api/v1/tenant"),
        "API error": Client().get("/api/v1/tenant"),
        "API schema": Client().get("/api/v1/schema/"),
        "portal page": _session(tenant_a.owner).get("/"),
        "sign-in page": Client().get("/accounts/login/"),
        "unmatched URL": Client().get("/no/such/page/"),
    }
    for where, response in answers.items():
        for header, value in HEADERS.items():
            assert response.get(header) == value, (where, header, response.headers)


PRODUCTION_SCRIPT = r"""
import json, sys
import django
django.setup()
from django.conf import settings
# The hashed static manifest needs collectstatic; headers and error pages do not depend on it.
settings.STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"
from django.contrib.auth import views as auth_views
from django.test import Client
import tenants.api.views as tenant_views

key, password = sys.argv[1], sys.argv[2]

def boom(*args, **kwargs):
    raise RuntimeError("a bug, reported to the operators")

client = Client(raise_request_exception=False)
out = {}
for name, path in {"api": "/api/v1/tenant", "portal": "/accounts/login/"}.items():
    response = client.get(path, secure=True, HTTP_AUTHORIZATION=f"Api-Key {key}")
    out[name] = {"status": response.status_code, "headers": dict(response.headers)}
    out[name]["cookies"] = {cookie: bool(morsel["secure"]) for cookie, morsel in response.cookies.items()}
    plain = client.get(path)
    out[name + "_over_http"] = {"status": plain.status_code, "location": plain.get("Location")}
    # With no proxy configured, a client's own X-Forwarded-Proto claims nothing.
    claimed = client.get(path, HTTP_X_FORWARDED_PROTO="https")
    out[name + "_claiming_https"] = {"status": claimed.status_code, "location": claimed.get("Location")}
reset = client.post("/accounts/password/reset/", {"email": sys.argv[3]}, secure=True)
out["reset"] = {"status": reset.status_code}
tenant_views.WhoAmIView.get = boom
auth_views.LoginView.post = boom
failed_api = client.get("/api/v1/tenant", secure=True, HTTP_AUTHORIZATION=f"Api-Key {key}")
failed_page = client.post("/accounts/login/", {"username": "someone", "password": password}, secure=True)
out["api_500"] = {"status": failed_api.status_code, "body": failed_api.content.decode()}
out["api_500"]["type"] = failed_api["Content-Type"]
out["portal_500"] = {"status": failed_page.status_code, "body": failed_page.content.decode()}
print("RESULT" + json.dumps(out))
"""


@pytest.mark.django_db(transaction=True)
def test_production_settings_send_hsts_redirect_to_https_and_500s_show_no_secrets(tenant_a):
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "a-production-secret-that-is-long-enough-for-check-deploy-0123456789",
        "ALLOWED_HOSTS": "testserver",
        "DATABASE_URL": _database_url_of_test_db(),
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "saas_platform.settings",
        "EMAIL_BACKEND": "",
        "EMAIL_CONSOLE_OPT_IN": "1",
    }
    result = subprocess.run(
        [sys.executable, "-c", PRODUCTION_SCRIPT, tenant_a.key, PASSWORD, tenant_a.owner.email],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.split("RESULT", 1)[1])
    for name in ("api", "portal"):
        headers = out[name]["headers"]
        assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload", headers
        for header, value in HEADERS.items():
            assert headers.get(header) == value, (name, header)
        assert out[f"{name}_over_http"]["status"] == 301
        assert out[f"{name}_over_http"]["location"].startswith("https://")
        assert out[f"{name}_claiming_https"]["status"] == 301, "X-Forwarded-Proto is trusted only behind a proxy"
        assert headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert out["api"]["status"] == 200
    assert out["portal"]["cookies"] == {"csrftoken": True}, "cookies travel over HTTPS only"
    # A bug answers in the API's error shape, and neither answer nor log holds the key or the password.
    assert out["api_500"]["status"] == 500 and out["api_500"]["type"] == "application/json"
    assert json.loads(out["api_500"]["body"])["error"]["code"] == "server_error"
    assert out["portal_500"]["status"] == 500
    for secret in (tenant_a.key, tenant_a.key.split(".")[-1], PASSWORD):
        assert secret not in out["api_500"]["body"] and secret not in out["portal_500"]["body"]
        assert secret not in result.stderr
    assert "a bug, reported to the operators" in result.stderr, "the 500 is logged for the operators"
    # The operator opted in to mails in the log: the reset mail is there, its link is not.
    assert out["reset"]["status"] == 302
    assert f"To: {tenant_a.owner.email}" in result.stdout and "[link withheld from the log]" in result.stdout
    assert "/accounts/password/reset/" not in result.stdout.split("RESULT")[0]


@pytest.mark.django_db
def test_api_keys_and_passwords_never_reach_logs_audit_or_answers(tenant_a, caplog):
    caplog.set_level(logging.DEBUG)
    created = tenant_a.client.post("/api/v1/api-keys", {"name": "ci", "scopes": ["recommend"]}, format="json").json()
    new_key = created["key"]
    prefix, secret = new_key.split(".", 1)
    wrong = Client().get("/api/v1/tenant", HTTP_AUTHORIZATION=f"Api-Key {prefix}.{secret[::-1]}")
    assert wrong.status_code == 401 and secret[::-1] not in wrong.content.decode()
    tenant_a.client.delete(f"/api/v1/api-keys/{created['id']}")
    revoked = Client().get("/api/v1/tenant", HTTP_AUTHORIZATION=f"Api-Key {new_key}")
    assert revoked.status_code == 401 and new_key not in revoked.content.decode()
    Client().post("/accounts/login/", {"username": tenant_a.owner.username, "password": "not-" + PASSWORD})
    Client().post("/accounts/login/", {"username": tenant_a.owner.username, "password": PASSWORD})
    signup_password = "Another-long-passphrase-42"
    Client().post(
        "/accounts/signup/",
        {"username": "newcomer", "email": "n@example.com", "organisation": "New", "password1": signup_password,
         "password2": signup_password},
    )  # fmt: skip
    audit = json.dumps(list(AuditLog.objects.unscoped().values()), default=str)
    stored = json.dumps(list(ApiKey.objects.unscoped().values()), default=str)
    for hidden in (new_key, secret, secret[::-1], tenant_a.key.split(".")[-1], PASSWORD, signup_password):
        assert hidden not in caplog.text
        assert hidden not in audit
        assert hidden not in stored
    assert caplog.records, "something was logged, so the check above looked at real log lines"


@pytest.mark.django_db
def test_sign_in_locks_after_repeated_failures_even_for_the_right_password(tenant_a):
    browser = Client()
    for _ in range(throttling.MAX_FAILURES):
        browser.post("/accounts/login/", {"username": tenant_a.owner.username, "password": "wrong"})
    locked = browser.post("/accounts/login/", {"username": tenant_a.owner.username, "password": PASSWORD})
    assert locked.status_code == 200 and "Too many failed sign-ins" in locked.content.decode()
    assert "_auth_user_id" not in browser.session


@pytest.mark.django_db
@pytest.mark.parametrize(
    "password, complaint",
    [
        ("short1!", "too short"),
        ("password123", "too common"),
        ("83749261550", "entirely numeric"),
        ("weakling-newcomer", "too similar"),
    ],
)
def test_sign_up_refuses_weak_passwords(password, complaint):
    response = Client().post(
        "/accounts/signup/",
        {"username": "weakling-newcomer", "email": "w@example.com", "organisation": "W",
         "password1": password, "password2": password},
    )  # fmt: skip
    assert response.status_code == 200
    assert complaint in response.content.decode()


# --- private uploads and storage paths ---------------------------------------------------------------------


def _stored_upload(world, name, content=b"not,a,valid\nfile"):
    """Upload a file whose import fails (so the stored upload stays, for a rerun); returns the response.

    The multipart body is written by hand: Django's test client would reduce the file name to its
    basename itself, and what is tested here is that the server does not trust the name it is sent.
    """
    dataset = create_dataset(actor=Actor.system(world.tenant), name="d", kind="interactions")
    boundary = "x-boundary-x"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return world.client.generic(
        "POST",
        f"/api/v1/datasets/{dataset.pk}/imports",
        body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )


def _stored_job(world, name, content=b"not,a,valid\nfile"):
    response = _stored_upload(world, name, content)
    assert response.status_code == 202, response.content
    return ImportJob.objects.unscoped().get(pk=response.json()["id"])


@pytest.mark.django_db
def test_uploads_are_never_served_by_url(tenant_a):
    job = _stored_job(tenant_a, "secret.csv", b"user_id,item_id\nsecret-user,secret-item\n")
    assert default_storage.exists(job.file_path)
    assert settings.MEDIA_URL is None
    serving_files = [p for p in _all_patterns() if getattr(p.callback, "__wrapped__", p.callback) is static.serve]
    assert not serving_files, "a URL serves files from disk"
    for client in (Client(), _session(tenant_a.owner), tenant_a.client):
        for prefix in ("/", "/media/", "/storage/", "/var/storage/", "/static/", "/static/../"):
            response = client.get(prefix + job.file_path)
            assert response.status_code in (301, 302, 404), (prefix, response.status_code)
            assert b"secret-user" not in response.content


def _all_patterns(resolver=None):
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLPattern):
            yield entry
        else:
            yield from _all_patterns(entry)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name",
    [
        "../../../../../tmp/escaped.csv",
        "..\\..\\escaped.csv",
        "/etc/escaped.csv",
        "tenants/999/uploads/x.csv",
        "..",
        "%2e%2e%2fescaped.csv",
    ],
)
def test_an_upload_name_cannot_choose_where_the_file_goes(tenant_a, name):
    response = _stored_upload(tenant_a, name)
    if response.status_code == 400:  # Django refuses a name it cannot make a file name of (e.g. "..")
        return
    job = ImportJob.objects.unscoped().get(pk=response.json()["id"])
    assert job.file_path.startswith(f"tenants/{tenant_a.tenant.pk}/uploads/")
    stored = Path(default_storage.path(job.file_path)).resolve()
    assert stored.is_relative_to(Path(settings.MEDIA_ROOT).resolve()) and stored.is_file()
    assert "/" not in job.file_name and ".." not in Path(job.file_name).parts[:-1]
    assert not Path("/tmp/escaped.csv").exists() and not Path("/etc/escaped.csv").exists()


@pytest.mark.django_db
def test_slugs_that_would_climb_out_of_a_folder_are_refused(tenant_a):
    dataset = create_dataset(actor=Actor.system(tenant_a.tenant), name="d", kind="interactions")
    for slug in ("../../etc", "a/../../b", "..", "a%2f..%2fb"):
        response = tenant_a.client.post(
            "/api/v1/models", {"name": "m", "slug": slug, "dataset": dataset.pk}, format="json"
        )
        assert response.status_code == 400, (slug, response.content)
