"""Domain errors: what went wrong, said for a person, and never in HTTP terms.

Services and selectors raise these. The API maps each kind to a status once
(``tenants.api.errors.api_exception_handler``) and the portal shows the message
(``core.errors.DomainError.message``); neither layer needs to know which
service raised it. ``code`` is machine-readable, ``message`` is one sentence a
person can act on, ``details`` carries field problems or extra facts.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    code = "invalid"
    default_message = "The request cannot be carried out."

    def __init__(self, message: str | None = None, *, code: str | None = None, details: dict[str, Any] | None = None):
        self.message = message or self.default_message
        if code:
            self.code = code
        self.details: dict[str, Any] = dict(details or {})
        super().__init__(self.message)


class InvalidInput(DomainError):
    """The input is wrong; ``details`` maps field names to lists of reasons where they are known."""

    code = "invalid"
    default_message = "The request has invalid fields; see details."

    @classmethod
    def for_fields(cls, problems: dict[str, Any]) -> InvalidInput:
        """One error naming each field and its reason(s), nested as deep as needed; the message names the first.

        ``{"file": "The file is empty."}`` and ``{"items": {"3": {"price": ["Not a number."]}}}`` both work;
        a bare reason becomes a one-item list so ``details`` always maps a field to a list of reasons.
        """
        details = {field: _as_reasons(reasons) for field, reasons in problems.items()}
        found = first_problem(details)
        return cls(f"{found[0]}: {found[1]}" if found else None, details=details)


def _as_reasons(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _as_reasons(inner) for key, inner in value.items()}
    return [str(reason) for reason in value] if isinstance(value, list) else [str(value)]


def first_problem(details: Any, path: str = "") -> tuple[str, str] | None:
    """The first ``(field path, reason)`` in nested validation details, for a one-sentence message."""
    if isinstance(details, dict):
        for key, value in details.items():
            found = first_problem(value, f"{path}.{key}" if path else str(key))
            if found:
                return found
    elif isinstance(details, list):
        for value in details:
            found = first_problem(value, path)
            if found:
                return found
    elif details:
        return path, str(details)
    return None


class Unsupported(InvalidInput):
    """The target exists but cannot do this (for example a tabular model asked for recommendations)."""

    code = "unsupported"
    default_message = "This operation is not supported here."


class NotFound(DomainError):
    code = "not_found"
    default_message = "Not found."


class Forbidden(DomainError):
    code = "permission_denied"
    default_message = "You do not have permission to do this."


class Conflict(DomainError):
    code = "conflict"
    default_message = "The request conflicts with the current state."


class PayloadTooLarge(DomainError):
    code = "payload_too_large"
    default_message = "The upload is larger than your plan allows."


class QuotaExceeded(DomainError):
    code = "quota_exceeded"
    default_message = "Your plan's quota is used up."


class Unavailable(DomainError):
    """A dependency (database, queue) is briefly down: nothing was done and a retry will do."""

    code = "service_unavailable"
    default_message = "The service is briefly unavailable; retry in a few seconds."
