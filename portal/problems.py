"""Turning a refusal from a service into one sentence for a person."""

from core.errors import DomainError


def problem_message(exc):
    """The message of a domain error, or the first message in a DRF exception's ``detail``, however deeply
    a validation error nests it."""
    if isinstance(exc, DomainError):
        return exc.message
    detail = exc.detail
    while isinstance(detail, dict | list) and detail:
        detail = next(iter(detail.values())) if isinstance(detail, dict) else detail[0]
    return str(detail)
