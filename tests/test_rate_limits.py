"""Per-key rate limits from the plan (429 with Retry-After, then recovery) and usage metering."""

import pytest

from tenants import throttling
from tenants.models import ApiUsage, Plan
from tenants.usage import flush_usage_counters

from .factories import make_api_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def tight_plan(tenant_a):
    plan = Plan.objects.create(name="tight", api_requests_per_minute=3)
    tenant_a.tenant.plan = plan
    tenant_a.tenant.save()
    return plan


class _Clock:
    def __init__(self, start):
        self.now = start

    def __call__(self):
        return self.now


def test_key_over_its_limit_gets_429_with_retry_after_then_recovers(tenant_a, tight_plan, monkeypatch):
    clock = _Clock(60 * 16_667 + 20.0)  # 20 s into a minute window
    monkeypatch.setattr(throttling.time, "time", clock)

    statuses = [tenant_a.client.get("/api/v1/tenant").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = tenant_a.client.get("/api/v1/tenant")
    assert refused.json()["error"]["code"] == "throttled"
    assert refused["Retry-After"] == "40"
    assert refused.json()["error"]["details"]["retry_after"] == 40

    clock.now += 41  # the next minute window
    assert tenant_a.client.get("/api/v1/tenant").status_code == 200


def test_limits_are_per_key(tenant_a, tight_plan, monkeypatch):
    monkeypatch.setattr(throttling.time, "time", _Clock(2_000_000.0))
    _, other_key = make_api_key(tenant_a.tenant, name="other")
    from .conftest import key_client

    for _ in range(4):
        tenant_a.client.get("/api/v1/tenant")
    assert key_client(other_key).get("/api/v1/tenant").status_code == 200


def test_usage_counts_requests_by_endpoint_and_day_and_survives_a_flush(tenant_a, tenant_b):
    for _ in range(3):
        tenant_a.client.get("/api/v1/tenant")
    tenant_a.client.get("/api/v1/api-keys")
    tenant_b.client.get("/api/v1/tenant")

    before = tenant_a.client.get("/api/v1/usage").json()
    assert before["endpoints"]["WhoAmIView"] == 3
    assert before["endpoints"]["api-key.list"] == 1
    assert before["endpoints"]["UsageView"] == 1  # the usage call itself counts
    assert before["days"][-1]["requests"] == before["total"] == 5
    assert len(before["days"]) == 30

    assert flush_usage_counters() >= 3
    assert set(ApiUsage.objects.filter(tenant=tenant_a.tenant).values_list("endpoint", flat=True)) == {
        "WhoAmIView",
        "api-key.list",
        "UsageView",
    }
    after = tenant_a.client.get("/api/v1/usage").json()
    assert after["endpoints"]["WhoAmIView"] == 3
    assert after["endpoints"]["UsageView"] == 2
    assert tenant_b.client.get("/api/v1/usage").json()["endpoints"]["WhoAmIView"] == 1


def test_with_redis_unreachable_requests_pass_and_the_outage_is_logged(tenant_a, tight_plan, monkeypatch, caplog):
    import redis

    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, socket_timeout=0.2)
    monkeypatch.setattr(throttling, "get_redis", lambda: dead)
    monkeypatch.setattr(throttling, "_outage_logged_at", 0.0)
    statuses = {tenant_a.client.get("/api/v1/tenant").status_code for _ in range(5)}
    assert statuses == {200}  # over the plan's 3 a minute, but limits degrade open
    assert "Redis unavailable" in caplog.text and "not enforced" in caplog.text
