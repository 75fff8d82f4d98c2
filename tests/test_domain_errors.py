"""Services raise domain errors; the API maps each kind to one status and the one error shape."""

import pytest
from rest_framework.test import APIRequestFactory

from core import errors
from tenants.api.errors import api_exception_handler


def _answer(exc):
    request = APIRequestFactory().get("/api/v1/anything")
    return api_exception_handler(exc, {"request": request, "view": None})


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (errors.InvalidInput("Bad."), 400, "invalid"),
        (errors.Unsupported("No."), 400, "unsupported"),
        (errors.NotFound("Gone."), 404, "not_found"),
        (errors.Forbidden("Not yours."), 403, "permission_denied"),
        (errors.Conflict("Busy."), 409, "conflict"),
        (errors.PayloadTooLarge("Big."), 413, "payload_too_large"),
        (errors.QuotaExceeded("Spent."), 429, "quota_exceeded"),
        (errors.Unavailable("Down."), 503, "service_unavailable"),
        (errors.Conflict("Busy.", code="already_finished"), 409, "already_finished"),
    ],
)
def test_each_kind_answers_its_status_in_the_one_shape(error, status, code):
    response = _answer(error)

    assert response.status_code == status
    assert response.data == {"error": {"code": code, "message": error.message, "details": {}}}


def test_field_problems_name_the_first_field_in_the_message_and_keep_every_field_in_details():
    error = errors.InvalidInput.for_fields({"items": {"3": {"price": "Not a number."}}, "file": ["Empty."]})

    response = _answer(error)

    assert response.status_code == 400
    assert response.data["error"]["message"] == "items.3.price: Not a number."
    assert response.data["error"]["details"] == {"items": {"3": {"price": ["Not a number."]}}, "file": ["Empty."]}


def test_service_errors_are_domain_errors_and_speak_no_http():
    from core.queueing import QueueUnavailable
    from recommender.serving.services import ServingError
    from recommender.training.services.configs import ConfigError, QuotaError
    from recommender.training.services.runs import RunError
    from tenants.services import TenantError

    for kind in (ServingError, ConfigError, QuotaError, RunError, QueueUnavailable, TenantError):
        assert issubclass(kind, errors.DomainError)
        assert not any(base.__module__.startswith("rest_framework") for base in kind.__mro__)
