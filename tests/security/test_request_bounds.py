"""JSON bodies of the API are bounded before they are read: a 413 in the API's error shape."""

import json

import pytest

from recommender.data.models import Interaction

pytestmark = pytest.mark.django_db


class _BodyNeverRead:
    """A request body that fails the test if the server reads a byte of it."""

    def read(self, *args):
        raise AssertionError("the server read a body it should have refused by its declared length")

    readline = read


def _events(count):
    return [{"user_id": f"u{n}", "item_id": f"i{n}", "event_type": "view"} for n in range(count)]


def _post(world, body: bytes, **extra):
    return world.client.generic("POST", "/api/v1/events", body, content_type="application/json", **extra)


def test_a_declared_length_over_the_plan_is_refused_before_the_body_is_read(tenant_a):
    """The attack: a 286 MB body was read whole. Now the declared length alone answers it."""
    limit = tenant_a.tenant.plan.max_request_body_bytes
    response = _post(tenant_a, b"", CONTENT_LENGTH=str(300 * 1024 * 1024), **{"wsgi.input": _BodyNeverRead()})
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "request_too_large"
    assert f"up to {limit} bytes" in error["message"] and "standard plan" in error["message"]
    assert error["details"] == {"limit_bytes": limit}
    assert Interaction.objects.unscoped().count() == 0


def test_the_plans_limit_decides_and_a_body_at_the_limit_is_accepted(tenant_a):
    plan = tenant_a.tenant.plan
    fits = json.dumps({"events": _events(10)}).encode()
    plan.max_request_body_bytes = len(fits)
    plan.save()

    assert _post(tenant_a, fits).json()["accepted"] == 10
    one_byte_over = json.dumps({"events": _events(10)}).encode() + b" "
    response = _post(tenant_a, one_byte_over)
    assert response.status_code == 413
    assert response.json()["error"]["details"] == {"limit_bytes": len(fits)}
    assert Interaction.objects.unscoped().count() == 10


def test_the_plans_limits_are_visible_to_the_tenant_in_the_api_and_the_portal(tenant_a):
    from django.test import Client

    plan = tenant_a.tenant.plan
    limits = tenant_a.client.get("/api/v1/tenant").json()["tenant"]["plan"]["limits"]
    assert limits["max_request_body_bytes"] == {
        "label": "Bytes of one JSON request body",
        "limit": plan.max_request_body_bytes,
    }
    assert {"max_batch_users", "max_storage_bytes", "feature_keys", "decompression_ratio", "line_bytes"} <= set(limits)

    owner = Client()
    owner.force_login(tenant_a.owner)
    page = owner.get("/usage/").content.decode()
    assert "Limits of the standard plan" in page
    for limit in limits.values():
        assert f'<th scope="row">{limit["label"]}</th><td class="num">{limit["limit"]}</td>' in page
