"""Database trouble in the API: an outage is a 503 worth retrying; a bad value never reaches the database
as one, and a real bug stays a 500 instead of posing as an outage."""

import pytest
from django.db import DataError, IntegrityError, InterfaceError, OperationalError
from rest_framework.test import APIRequestFactory

from tenants.api.errors import api_exception_handler

pytestmark = pytest.mark.django_db


def test_a_huge_page_limit_is_clamped_instead_of_failing_in_the_database(tenant_a):
    """Found by schemathesis: ?limit=8.7e37 overflowed PostgreSQL's LIMIT and answered 503 'unavailable'."""
    for name in ("one", "two"):
        body = {"name": name, "kind": "interactions"}
        assert tenant_a.client.post("/api/v1/datasets", body, format="json").status_code == 201
    response = tenant_a.client.get("/api/v1/datasets", {"limit": 87180142998468932141376878896877095108, "offset": 0})
    assert response.status_code == 200
    assert [dataset["name"] for dataset in response.json()["results"]] == ["two", "one"]


@pytest.mark.parametrize("offset", ["-5", "null", "1.5", ""])
def test_an_offset_that_is_not_a_whole_number_is_refused_naming_it(tenant_a, offset):
    """Found by schemathesis: ?offset=null (or -5) was read as the first page, where the schema says integer ≥ 0."""
    response = tenant_a.client.get("/api/v1/datasets", {"offset": offset})
    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["offset"]


@pytest.mark.parametrize("error", [OperationalError("server closed the connection"), InterfaceError("closed")])
def test_a_lost_database_answers_503_in_the_error_shape(error):
    context = {"request": APIRequestFactory().get("/api/v1/datasets"), "view": None}
    response = api_exception_handler(error, context)
    assert response.status_code == 503 and response.data["error"]["code"] == "service_unavailable"


@pytest.mark.parametrize("error", [DataError("bigint out of range"), IntegrityError("duplicate key")])
def test_other_database_errors_are_not_passed_off_as_an_outage(error):
    context = {"request": APIRequestFactory().get("/api/v1/datasets"), "view": None}
    assert api_exception_handler(error, context) is None  # DRF re-raises: a 500, logged as the bug it is
