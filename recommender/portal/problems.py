"""Turning a refusal from a service (a DRF exception) into one sentence for a person."""


def problem_message(exc):
    """The first message in ``exc.detail``, however deeply a validation error nests it."""
    detail = exc.detail
    while isinstance(detail, dict | list) and detail:
        detail = next(iter(detail.values())) if isinstance(detail, dict) else detail[0]
    return str(detail)
