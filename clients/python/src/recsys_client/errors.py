"""Typed exceptions: every API error carries the API's code, message and details."""

from __future__ import annotations

from typing import Any


class RecsysError(Exception):
    """Base of every error this package raises."""


class ApiError(RecsysError):
    """The API answered an error: ``{"error": {"code", "message", "details"}}``.

    ``status_code`` is the HTTP status, ``code`` the machine-readable code (``invalid``,
    ``not_found``, ...), ``details`` the per-field problems or extra facts, ``retry_after``
    the seconds the server asked to wait (429 and 503), ``request_id`` the server's id if any.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str,
        details: dict[str, Any] | None = None,
        retry_after: float | None = None,
        request_id: str | None = None,
        method: str = "",
        url: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.details = details or {}
        self.retry_after = retry_after
        self.request_id = request_id
        self.method = method
        self.url = url

    def __str__(self) -> str:
        where = f" ({self.method} {self.url})" if self.method else ""
        return f"{self.status_code} {self.code}: {self.message}{where}"


class BadRequest(ApiError):
    """400: a field is wrong; ``details`` names it."""


class AuthenticationError(ApiError):
    """401: no usable key (missing, unknown, revoked or expired)."""


class PermissionDenied(ApiError):
    """403: the key may not do this (scope) or the tenant is suspended."""


class NotFound(ApiError):
    """404: no such object in your tenant."""


class Conflict(ApiError):
    """409: the request conflicts with the object's state (e.g. cancelling a finished run)."""


class PayloadTooLarge(ApiError):
    """413: an upload over the plan's size limit."""


class RateLimited(ApiError):
    """429 ``throttled``: over the key's requests per minute; retried after ``Retry-After``."""


class QuotaExceeded(ApiError):
    """429 ``quota_exceeded``: a plan quota is used up; retrying does not help."""


class ServiceUnavailable(ApiError):
    """503: the platform is briefly unavailable; retried with backoff."""


class ServerError(ApiError):
    """Any other 5xx answer."""


class TransportError(RecsysError):
    """The server could not be reached, or the connection broke (after the retries)."""


class WaitTimeout(RecsysError, TimeoutError):
    """A ``wait_for_*`` helper gave up before the job finished; ``last`` is the job as last seen."""

    def __init__(self, message: str, last: Any) -> None:
        super().__init__(message)
        self.last = last


class JobFailed(RecsysError):
    """A waited-for job ended without success; ``job`` is its final state."""

    def __init__(self, message: str, job: Any) -> None:
        super().__init__(message)
        self.job = job


class ImportFailed(JobFailed):
    """An import failed (nothing was loaded unless ``on_error="skip"``); ``job.errors`` lists bad rows."""


class TrainingFailed(JobFailed):
    """A training run failed or was cancelled; ``job.error`` says why."""


class BatchFailed(JobFailed):
    """A batch recommendations job failed; ``job.error`` says why."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    503: ServiceUnavailable,
}


def error_class(status_code: int, code: str) -> type[ApiError]:
    """The exception class for an error answer."""
    if status_code == 429:
        return QuotaExceeded if code == "quota_exceeded" else RateLimited
    if status_code in _BY_STATUS:
        return _BY_STATUS[status_code]
    if status_code >= 500:
        return ServerError
    return ApiError
