"""Pagination of API lists."""

import re
from typing import Any

from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

_DIGITS = re.compile(r"[0-9]+")


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """``?limit=&offset=`` with a ceiling on ``limit``: a huge one is clamped, not sent to the database
    (where past 2**63 it failed as an out-of-range LIMIT).

    A ``limit`` or ``offset`` that is not a whole number (``?offset=null``, ``?limit=-1``) is refused with a
    400 naming the parameter, as the schema says, rather than silently read as the first page.
    """

    max_limit = 1000

    def get_limit(self, request: Request) -> int | None:
        limit = self._whole_number(request, self.limit_query_param, minimum=1)
        return self.default_limit if limit is None else min(limit, self.max_limit)

    def get_offset(self, request: Request) -> int:
        offset = self._whole_number(request, self.offset_query_param, minimum=0)
        return offset or 0

    @staticmethod
    def _whole_number(request: Request, name: str, minimum: int) -> int | None:
        raw = request.query_params.get(name)
        if raw is None:
            return None
        digits = (raw.lstrip("0") or "0") if _DIGITS.fullmatch(raw) else None
        # Past 18 digits the number is beyond any list anyway (and Python refuses to read thousands of digits).
        value = None if digits is None else int(digits) if len(digits) <= 18 else 10**18
        if value is None or value < minimum:
            raise ValidationError({name: [f"Send a whole number of at least {minimum}."]})
        return value

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        limit, offset = super().get_schema_operation_parameters(view)
        limit["schema"]["minimum"] = 1
        limit["description"] = (
            f"Number of results per page (default {self.default_limit}; "
            f"more than {self.max_limit} reads as {self.max_limit})."
        )
        offset["schema"]["minimum"] = 0
        return [limit, offset]
