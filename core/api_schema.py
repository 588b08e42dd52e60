"""The OpenAPI schema class: every operation documents the shared error responses."""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers

from core.api import ErrorSerializer
from core.error_codes import codes_by_status, markdown_table


class ApiSchema(AutoSchema):
    """Every operation documents the error responses it can give, with the shared error shape."""

    def get_auth(self) -> list[dict[str, Any]]:
        """An endpoint anyone may call (sign-in, products) lists no security requirement, rather than
        "JWT, or cookie, or nothing": generators read any requirement as "needs a token" (openapi-python-
        client asked for an AuthenticatedClient to sign in)."""
        auth = super().get_auth()
        return [] if {} in auth else auth

    def _get_response_bodies(self, direction: Literal["request", "response"] = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        method = self.method.upper()
        extra = [400, 401, 403, 404, 405, 429]
        if method in ("POST", "PUT", "PATCH", "DELETE"):
            extra += [409, 415, 422]
        for code in extra:
            key = str(code)
            if key not in responses:
                responses[key] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=codes_by_status().get(code, "error")),
                    key,
                    direction=direction,
                )
        return responses


def append_error_catalogue(
    result: dict[str, Any], generator: object, request: object, public: bool
) -> dict[str, Any]:
    """drf-spectacular post-processing hook: the schema's description ends with the error-code table,
    generated from the apps' enums when the schema is built (the apps are loaded by then)."""
    info = result.setdefault("info", {})
    info["description"] = f"{info.get('description', '')}\n\n{markdown_table()}"
    return result


IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=True,
    description="Unique per request (a UUID); the same key and body replay the first response.",
)


class MoneyFieldOptions(TypedDict):
    max_digits: int
    decimal_places: int
    coerce_to_string: bool


# Money in responses: a string with two decimals (``serializers.DecimalField(**MONEY)``).
MONEY: MoneyFieldOptions = {"max_digits": 14, "decimal_places": 2, "coerce_to_string": True}


class TokenViewSchema(OpenApiViewExtension):
    """``POST /auth/token/`` documented with its real body and answer. simplejwt's view has no schema of
    its own and drf-spectacular's simplejwt extension matches only simplejwt's own serializer, so the
    schema said "200: No response body" and a generated client could not read its token."""

    target_class = "accounts.api.TokenView"

    def view_replacement(self) -> type:
        # drf-spectacular has replaced the dotted path with the class by now; mypy sees the str.
        class Fixed(self.target_class):  # type: ignore[name-defined,misc]
            @extend_schema(
                request=inline_serializer(
                    "SignIn",
                    {
                        "phone": serializers.CharField(
                            help_text="National (13812345678) or E.164 (+8613812345678)."
                        ),
                        "password": serializers.CharField(),
                    },
                ),
                responses={
                    200: inline_serializer(
                        "SignInTokens",
                        {
                            "access": serializers.CharField(
                                help_text="Send as `Authorization: Bearer <access>`; short-lived."
                            ),
                            "refresh": serializers.CharField(
                                help_text="POST it to /auth/token/refresh/ for a new pair."
                            ),
                        },
                    )
                },
                summary="Sign in with phone and password: an access and a refresh token",
            )
            def post(self, request: object, *args: object, **kwargs: object) -> object:
                return super().post(request, *args, **kwargs)  # pragma: no cover (schema only)

        return Fixed
