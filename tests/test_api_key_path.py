"""API-key calls through gunicorn with two workers: the lean request path keeps every guarantee.

API-key calls skip the browser middleware (saas_platform.handlers) and count
requests in each process, sending the counts to Redis in batches
(tenants.throttling). These tests run the real entry point in real worker
processes and check what a tenant would notice: a revoked key is refused by
every worker within a second, a key's limit holds across workers within the
documented bound, every request is counted (also when workers stop), and
another tenant's objects stay out of reach.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings

from core.redis_client import get_redis
from recommender.data.models import Interaction
from recommender.data.selectors import seen_item_ids
from tenants.audit import Actor
from tenants.models import Plan
from tenants.services import revoke_api_key
from tenants.throttling import USAGE_KEY

from .factories import make_api_key, make_interactions_dataset
from .serving.conftest import train_model
from .worker import _database_url_of_test_db, wait_until

ROOT = Path(__file__).resolve().parents[1]
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin"}


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """``gunicorn saas_platform.wsgi`` with two workers on the test database."""

    def __init__(self, **env):
        port = _free_port()
        self.base = f"http://127.0.0.1:{port}"
        environment = {
            **os.environ,
            "DATABASE_URL": _database_url_of_test_db(),
            "REDIS_URL": settings.REDIS_URL,
            "STORAGE_ROOT": str(settings.MEDIA_ROOT),
            "DJANGO_SETTINGS_MODULE": "saas_platform.settings",
            **env,
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "saas_platform.wsgi:application", "--bind", f"127.0.0.1:{port}",
             "--workers", "2", "--log-level", "warning"],
            cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        wait_until(self._up, 60, message="gunicorn to start")

    def _up(self):
        try:
            return requests.get(f"{self.base}/health", timeout=1).status_code == 200
        except requests.RequestException:  # not listening yet, or still loading Django
            return False

    def client(self, key):
        session = requests.Session()
        session.headers["Authorization"] = f"Api-Key {key}"
        return lambda path: session.get(self.base + path, timeout=30)

    def stop(self):
        """Stop as a deploy does (SIGTERM: workers finish their request and exit)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)


@pytest.fixture
def start_gunicorn(transactional_db):
    started = []

    def start(**env):
        started.append(Gunicorn(**env))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def _clear_of_a_minute_boundary(seconds):
    """Wait, if needed, so that the next ``seconds`` fall in one rate-limit window."""
    left = 60 - time.time() % 60
    if left < seconds:
        time.sleep(left + 0.1)


def test_a_revoked_key_is_refused_by_every_worker_within_a_second(start_gunicorn, tenant_a):
    get = start_gunicorn().client(tenant_a.key)
    # Every worker has the key cached (the deadline only bounds the test on a busy machine).
    wait_until(lambda: {get("/api/v1/tenant").status_code for _ in range(10)} == {200}, 30, message="200s")

    revoke_api_key(actor=Actor.system(tenant_a.tenant), api_key=tenant_a.api_key)
    revoked_at = time.monotonic()
    time.sleep(max(0.0, revoked_at + settings.PLATFORM["LOCAL_CACHE_SECONDS"] + 0.1 - time.monotonic()))
    answers = [get("/api/v1/tenant") for _ in range(20)]
    assert {answer.status_code for answer in answers} == {401}
    assert {answer.json()["error"]["code"] for answer in answers} == {"revoked_api_key"}


def test_a_keys_limit_holds_across_workers_and_every_request_is_counted(start_gunicorn, tenant_a):
    limit = 20
    tenant_a.tenant.plan = Plan.objects.create(name="twenty", api_requests_per_minute=limit)
    tenant_a.tenant.save()
    server = start_gunicorn()
    get = server.client(tenant_a.key)
    _clear_of_a_minute_boundary(15)

    burst = [get("/api/v1/tenant") for _ in range(60)]
    admitted = [answer.status_code for answer in burst].count(200)
    # Each worker answers alone while the key is under half its limit, so the other worker's last half
    # second of such answers may be over: at most half the limit with two workers (tenants.throttling).
    assert limit <= admitted <= limit + limit // 2, [answer.status_code for answer in burst]
    refused = next(answer for answer in burst if answer.status_code == 429)
    assert refused.json()["error"]["code"] == "throttled" and int(refused.headers["Retry-After"]) >= 1

    time.sleep(settings.PLATFORM["METERING_SECONDS"] + 0.2)  # every worker has sent its counts
    assert {get("/api/v1/tenant").status_code for _ in range(10)} == {429}

    _, other_key = make_api_key(tenant_a.tenant, name="reader")
    time.sleep(settings.PLATFORM["METERING_SECONDS"])  # the other worker's counts reach Redis
    usage = server.client(other_key)("/api/v1/usage")
    assert usage.status_code == 200  # limits are per key
    endpoints = usage.json()["endpoints"]
    assert endpoints["WhoAmIView"] == 70  # answered or refused, every request is counted
    assert endpoints["UsageView"] == 1


def test_requests_counted_by_a_worker_reach_redis_when_it_stops(start_gunicorn, tenant_a):
    # A minute between flushes: only the flush at exit can carry the counts this soon.
    server = start_gunicorn(PLATFORM_METERING_SECONDS="60")
    get = server.client(tenant_a.key)
    answers = [get("/api/v1/tenant").status_code for _ in range(30)]
    assert answers == [200] * 30
    server.stop()

    day = time.strftime("%Y-%m-%d", time.gmtime())
    counted = get_redis().hgetall(USAGE_KEY.format(tenant_id=tenant_a.tenant.pk, day=day))
    assert {field.decode(): int(count) for field, count in counted.items()} == {f"{tenant_a.api_key.pk}|WhoAmIView": 30}


def test_api_key_calls_see_only_their_tenant_and_carry_the_security_headers(start_gunicorn, tenant_a, tenant_b):
    server = start_gunicorn()
    as_b = server.client(tenant_b.key)
    whoami = as_b("/api/v1/tenant")
    assert whoami.status_code == 200 and whoami.json()["tenant"]["name"] == "Tenant B"
    for header, value in SECURITY_HEADERS.items():
        assert whoami.headers.get(header) == value, (header, whoami.headers)
    assert "Set-Cookie" not in whoami.headers, "an API-key call starts no session"

    assert as_b(f"/api/v1/api-keys/{tenant_b.api_key.pk}").status_code == 200
    other = as_b(f"/api/v1/api-keys/{tenant_a.api_key.pk}")
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"
    assert [key["id"] for key in as_b("/api/v1/api-keys").json()["results"]] == [tenant_b.api_key.pk]

    anonymous = requests.get(f"{server.base}/api/v1/tenant", timeout=30)  # no key: the usual handler
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "not_authenticated"


def test_a_recommendation_on_a_dropped_database_connection_reconnects(
    start_gunicorn, tenant_a, django_capture_on_commit_callbacks
):
    # Recommendations skip Django's SELECT 1 before their query (recommender.data.selectors): the query itself
    # finds a dead connection, and the worker reconnects instead of answering 503.
    import psycopg2
    from django.db import connection

    train_model(tenant_a, django_capture_on_commit_callbacks, slug="recs", recipe="ease")
    get = start_gunicorn().client(tenant_a.key)
    path = "/api/v1/models/recs/recommendations?user_id=u1"
    wait_until(lambda: {get(path).status_code for _ in range(10)} == {200}, 30, message="both workers to serve")

    # What a PostgreSQL restart or a failover does to the workers' persistent connections.
    ours = connection.connection.get_backend_pid() if connection.connection else None
    admin = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> %s",
            [connection.settings_dict["NAME"], ours or 0],
        )
        assert cursor.rowcount >= 1, "the workers had their connections"
    admin.close()
    answers = [get(path) for _ in range(10)]
    assert [answer.status_code for answer in answers] == [200] * 10
    seen = set(Interaction.objects.filter(tenant=tenant_a.tenant, user_id="u1").values_list("item_id", flat=True))
    assert not seen & {item["item_id"] for answer in answers for item in answer.json()["items"]}


@pytest.mark.django_db(transaction=True)
def test_the_prepared_seen_items_read_answers_like_the_query_also_after_a_session_reset(tenant_a, tenant_b):
    from django.db import connection

    make_interactions_dataset(tenant_a.tenant)
    expected = set(Interaction.objects.filter(tenant=tenant_a.tenant, user_id="u1").values_list("item_id", flat=True))
    assert expected and seen_item_ids(tenant_a.tenant, "u1") == expected
    assert seen_item_ids(tenant_b.tenant, "u1") == set(), "another tenant's events are not this tenant's"
    with connection.cursor() as cursor:
        cursor.execute("DISCARD ALL")  # what a pooler's reset does: the prepared statement is gone
    assert seen_item_ids(tenant_a.tenant, "u1") == expected
