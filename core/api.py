"""What every API endpoint shares: one error shape, the schema's error responses, cursor pagination.

Errors always look like ``{"code": "amount_exceeds_outstanding", "message": "...", "fields": {...}}``:
``ApplicationError`` from a service keeps its code and status; DRF's own errors get stable codes
(``invalid_request`` 400, ``not_authenticated`` 401, ``permission_denied`` 403, ``not_found`` 404,
``method_not_allowed`` 405, ``unsupported_media_type`` 415, ``throttled`` 429).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.validators import RegexValidator
from django.http import Http404
from django.utils.translation import gettext
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.error_codes import CommonError, ErrorCode
from core.errors import ApplicationError
from core.money import MONEY_REGEX, is_money_text


class ErrorSerializer(serializers.Serializer[None]):
    code = serializers.CharField(help_text="Stable, machine-readable; see the list per status.")
    message = serializers.CharField(help_text="For people, in the request's language.")
    # DRF's serializer metaclass moves declared fields into ``_declared_fields``, so this does not shadow
    # ``Serializer.fields`` at run time; the stubs do not model the metaclass.
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.CharField(),
        required=False,
        help_text="Per-field messages, when a field is at fault.",
    )


_DRF_CODES: dict[type[exceptions.APIException], ErrorCode] = {
    exceptions.ValidationError: CommonError.INVALID_REQUEST,
    exceptions.ParseError: CommonError.INVALID_REQUEST,
    exceptions.NotAuthenticated: CommonError.NOT_AUTHENTICATED,
    exceptions.AuthenticationFailed: CommonError.AUTHENTICATION_FAILED,
    exceptions.PermissionDenied: CommonError.PERMISSION_DENIED,
    exceptions.NotFound: CommonError.NOT_FOUND,
    exceptions.MethodNotAllowed: CommonError.METHOD_NOT_ALLOWED,
    exceptions.NotAcceptable: CommonError.NOT_ACCEPTABLE,
    exceptions.UnsupportedMediaType: CommonError.UNSUPPORTED_MEDIA_TYPE,
    exceptions.Throttled: CommonError.THROTTLED,
}


def _drf_code(exc: exceptions.APIException) -> str:
    return _DRF_CODES.get(type(exc), getattr(exc, "default_code", "error"))


def _flatten(detail: object) -> str:
    if isinstance(detail, list):
        return " ".join(_flatten(d) for d in detail)
    if isinstance(detail, dict):
        return " ".join(_flatten(d) for d in detail.values())
    return str(detail)


def request_limit_error(exc: BaseException) -> tuple[int, dict[str, Any]] | None:
    """Django's request limits (``DATA_UPLOAD_MAX_MEMORY_SIZE``, ``..._NUMBER_FILES``/``_FIELDS``) as the
    API's error shape: 413 ``request_too_large`` or 400 ``invalid_request``, not Django's HTML 400 page.
    Used by the exception handler and by ``config.views.bad_request`` (raised outside a view)."""
    if isinstance(exc, RequestDataTooBig):
        code = CommonError.REQUEST_TOO_LARGE
        return code.status, {"code": code, "message": "The request body is too large.", "fields": {}}
    if isinstance(exc, (TooManyFilesSent, TooManyFieldsSent)):
        message = "Too many files or fields in one request."
        code = CommonError.INVALID_REQUEST
        return code.status, {"code": code, "message": message, "fields": {}}
    return None


def _retry_after(status: int, seconds: int | None) -> dict[str, str] | None:
    """Every 429 says when to come back (RFC 9110 Retry-After, whole seconds), so a client can wait
    instead of hammering; 60 s when the refusal did not say."""
    if status != 429:
        return None
    return {"Retry-After": str(max(1, int(seconds))) if seconds else "60"}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        body = exc.as_dict()
        return Response(body, status=exc.status, headers=_retry_after(exc.status, exc.retry_after))
    too_much = request_limit_error(exc)
    if too_much is not None:
        return Response(too_much[1], status=too_much[0])
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None  # a server error: Django's 500 handling and logging take it
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = _drf_code(exc)
    fields: dict[str, str] = {}
    if isinstance(exc, exceptions.ValidationError) and isinstance(exc.detail, dict):
        fields = {name: _flatten(value) for name, value in exc.detail.items()}
        message = "Please correct the marked fields." if fields else _flatten(exc.detail)
    else:
        message = _flatten(exc.detail)
    if code == CommonError.NOT_AUTHENTICATED or isinstance(exc, exceptions.AuthenticationFailed):
        detail_code = getattr(exc, "get_codes", lambda: None)()
        if isinstance(detail_code, dict) and detail_code.get("code") == CommonError.TOKEN_NOT_VALID:
            code = CommonError.TOKEN_NOT_VALID
    response.data = {"code": code, "message": message, "fields": fields}
    return response


class MoneyField(serializers.CharField):
    """Money in a request: a string of ASCII digits with at most two decimals ("50.00"), by the one rule
    of ``core.money`` (no exponent, sign, underscore, space or non-ASCII digit). A JSON number is
    refused, because a float cannot carry an exact amount. Refused as ``invalid_amount`` (400), the code
    ``parse_money`` gives; the services then check the amount itself."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", 'Yuan as a string with at most two decimals, e.g. "50.00".')
        kwargs.setdefault("max_length", 15)
        kwargs["trim_whitespace"] = False  # " 1.00 " is refused, not quietly repaired
        super().__init__(**kwargs)
        self.validators.append(RegexValidator(MONEY_REGEX))  # publishes the pattern in the schema

    def to_internal_value(self, data: object) -> str:
        if not isinstance(data, str):
            raise serializers.ValidationError('Send money as a string, e.g. "50.00", never as a number.')
        if not is_money_text(data):
            message = gettext("Enter an amount in yuan, like 100 or 100.50.")
            fields = {self.field_name: message} if self.field_name else {}  # unbound: no field to mark
            raise ApplicationError(CommonError.INVALID_AMOUNT, message, fields=fields)
        return data


def validated(serializer_class: type[serializers.Serializer[Any]], data: object) -> dict[str, Any]:
    """The request's data checked by ``serializer_class``; a 400 with per-field messages otherwise."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    checked: dict[str, Any] = serializer.validated_data  # typed Any by the stubs; a dict without many=True
    return checked
