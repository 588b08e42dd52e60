"""The API's JSON parser: DRF's, except that JSON nested deeper than Python can recurse is a 400.

``json.load`` raises ``RecursionError`` (not ``ValueError``) on a body like ``[[[[...]]]]`` 100,000 deep,
which DRF's parser does not catch: an anonymous client could make every endpoint answer 500 and write a
traceback. Here it is a ``ParseError`` (400 ``invalid_request``) like any other malformed body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
