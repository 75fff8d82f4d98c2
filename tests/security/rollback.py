"""Requests whose writes are undone, so every probe starts from the same data."""

from contextlib import suppress

from django.db import transaction

from recommender.serving.loader import forget_all
from tenants.selectors import forget_cached_key


class _Undo(Exception):
    """Raised to roll back the request's transaction."""


def rolled_back(call):
    """Make a request inside a transaction that is then rolled back, and forget process caches it filled."""
    box = {}
    with suppress(_Undo), transaction.atomic():
        box["response"] = call()
        raise _Undo
    forget_cached_key()
    forget_all()
    return box["response"]
