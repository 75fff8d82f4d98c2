"""Pagination of API lists."""

from rest_framework import pagination


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """``?limit=&offset=`` with a ceiling on ``limit``: a huge one is clamped, not sent to the database
    (where past 2**63 it failed as an out-of-range LIMIT)."""

    max_limit = 1000
