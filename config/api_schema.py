"""The OpenAPI schema class: every operation documents the shared error responses."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from config.api import ERROR_CODES_BY_STATUS, ErrorSerializer


class ApiSchema(AutoSchema):
    """Every operation documents the error responses it can give, with the shared error shape."""

    def _get_response_bodies(self, direction: str = "response") -> dict:
        responses = super()._get_response_bodies(direction)
        method = self.method.upper()
        extra = [400, 401, 403, 404, 405, 429]
        if method in ("POST", "PUT", "PATCH", "DELETE"):
            extra += [409, 415, 422]
        for code in extra:
            key = str(code)
            if key not in responses:
                responses[key] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=ERROR_CODES_BY_STATUS.get(code, "error")),
                    key,
                    direction=direction,
                )
        return responses


IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=True,
    description="Unique per request (a UUID); the same key and body replay the first response.",
)
# Money in responses: a string with two decimals.
MONEY = {"max_digits": 14, "decimal_places": 2, "coerce_to_string": True}
