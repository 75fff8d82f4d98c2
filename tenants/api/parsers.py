"""Request parsers of the API."""

import io

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from core.errors import PayloadTooLarge

from ..context import get_request_tenant


def json_body_limit(request) -> tuple[int, str]:
    """The largest JSON body ``request`` may send, in bytes, and whose limit it is (for the message)."""
    tenant = get_request_tenant(request) if request is not None else None
    if tenant is not None:
        return tenant.plan.max_request_body_bytes, f"the {tenant.plan.name} plan"
    return settings.API_MAX_BODY_BYTES, "the platform"


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with a size limit, and a body nested too deeply to decode answered as a 400, not a 500.

    DRF reads the whole stream (Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` never applies), so the limit is
    checked here: from the declared length before a byte is read, and by reading at most one byte past it
    when the declared length lies or is absent. Python's decoder recurses per level of nesting and raises
    ``RecursionError`` (not a ``ValueError``, which DRF already turns into a 400) for a few thousand brackets.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        limit, whose = json_body_limit(request)
        declared = int((request.META.get("CONTENT_LENGTH") if request is not None else None) or 0)
        if declared > limit:
            raise _too_large(declared, limit, whose)
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise _too_large(None, limit, whose)
        try:
            return super().parse(io.BytesIO(body), media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body nests arrays or objects too deeply.") from None


def _too_large(size, limit, whose):
    said = f"The request body is {size} bytes" if size is not None else "The request body is too large"
    return PayloadTooLarge(
        f"{said}; {whose} accepts JSON bodies of up to {limit} bytes. Send smaller batches.",
        code="request_too_large",
        details={"limit_bytes": limit},
    )
