"""Request parsers of the API."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, with a body nested too deeply to decode answered as a parse error (400), not a 500.

    Python's decoder recurses per level of nesting and raises ``RecursionError`` (not a ``ValueError``,
    which DRF already turns into a 400) for a few thousand brackets.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body nests arrays or objects too deeply.") from None
