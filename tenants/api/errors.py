"""One error shape for the whole API, and the one place domain errors become HTTP.

Every error answers ``{"error": {"code": ..., "message": ..., "details": ...}}``
where ``code`` is machine-readable, ``message`` says what went wrong for a
person, and ``details`` maps field names to their problems (validation) or
carries extra facts (for example ``retry_after``).
"""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback

from core.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    QuotaExceeded,
    Unavailable,
    first_problem,
)

logger = logging.getLogger(__name__)


# Each kind of domain error answers one status; the most specific class is listed first.
_DOMAIN_STATUS = (
    (NotFound, status.HTTP_404_NOT_FOUND),
    (Forbidden, status.HTTP_403_FORBIDDEN),
    (Conflict, status.HTTP_409_CONFLICT),
    (PayloadTooLarge, status.HTTP_413_REQUEST_ENTITY_TOO_LARGE),
    (QuotaExceeded, status.HTTP_429_TOO_MANY_REQUESTS),
    (Unavailable, status.HTTP_503_SERVICE_UNAVAILABLE),
)


def domain_error_status(exc):
    """The HTTP status a domain error answers (400 for invalid input and anything unlisted)."""
    return next((code for kind, code in _DOMAIN_STATUS if isinstance(exc, kind)), status.HTTP_400_BAD_REQUEST)


def _plain(detail):
    if isinstance(detail, dict):
        return {key: _plain(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_plain(value) for value in detail]
    return str(detail)


def _validation_message(detail, details):
    """One sentence for a validation error: the first problem, with its field."""
    if isinstance(detail, list):
        return " ".join(str(item) for item in detail)
    non_field = details.pop("non_field_errors", None)
    if non_field:
        return " ".join(non_field)
    found = first_problem(details)
    if found:
        return f"{found[0]}: {found[1]}"
    return "The request has invalid fields; see details."


def error_body(code, message, details=None):
    """The error payload every API error uses."""
    return {"error": {"code": code, "message": message, "details": details or {}}}


def api_exception_handler(exc, context):
    """DRF exception handler that renders every error in the one shape."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, OperationalError | InterfaceError):
        # The database is unreachable or the connection broke: an outage, worth a retry. Other database
        # errors (a value out of range, a broken constraint) are bugs and stay 500s, visible as such.
        logger.error("Database unavailable while serving %s: %s", context["request"].path, exc)
        exc = Unavailable()

    if isinstance(exc, DomainError):
        set_rollback()
        return Response(error_body(exc.code, exc.message, exc.details), status=domain_error_status(exc))

    response = exception_handler(exc, context)
    if response is None:
        return None

    detail = exc.detail
    if isinstance(exc, exceptions.ValidationError):
        code = "invalid"
        details = _plain(detail) if isinstance(detail, dict) else {}
        message = _validation_message(detail, details)
    else:
        code = getattr(detail, "code", None) or exc.default_code
        message = str(detail)
        details = dict(getattr(exc, "extra_details", None) or {})
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        details["retry_after"] = int(exc.wait + 0.999)
    response.data = error_body(code, message, details)
    return response
