"""API: tokens (JWT), the caller's profile and SMS codes."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from accounts.axes import normalise_login
from accounts.http import AuthenticatedRequest
from accounts.models import OtpPurpose, User
from accounts.services import contact_window_set, language_set, otp_request, user_tokens_revoke
from accounts.tokens import VersionedRefreshToken, refresh_token_spend, token_is_current
from core.api import ErrorSerializer, validated
from core.error_codes import CommonError
from core.errors import ApplicationError


class PhoneTokenSerializer(TokenObtainPairSerializer):
    """phone + password -> access and refresh tokens. The phone may be national (13812345678) or E.164."""

    token_class = VersionedRefreshToken

    def validate(self, attrs: dict) -> dict:
        attrs["phone"] = normalise_login(attrs.get("phone")) or ""
        request = self.context.get("request")
        if request is not None:
            # django-axes marks a locked-out sign-in on the request it is given; give it Django's own, which
            # its middleware reads to answer 429 (DRF's wrapper would keep the mark to itself -> 401).
            # DRF keeps the context as the dict it was given; the stubs type it as a read-only Mapping.
            self.context["request"] = getattr(request, "_request", request)  # type: ignore[index]
        return super().validate(attrs)


class TokenView(TokenObtainPairView):
    """Sign in. Wrong phone or password: 401 ``authentication_failed``; after ``AXES_FAILURE_LIMIT`` wrong
    passwords for one number from one address: 429 ``throttled`` with ``Retry-After``."""

    serializer_class = PhoneTokenSerializer
    throttle_scope = "login"
    # AllowAny (not simplejwt's empty tuple) tells the schema the endpoint needs no credentials. simplejwt
    # leaves the attribute unannotated, so mypy reads its type as the empty tuple.
    permission_classes = [AllowAny]  # type: ignore[assignment]


def _refused(message: str) -> ApplicationError:
    """401 ``token_not_valid`` in the API's error shape (also from views that authenticate nobody)."""
    return ApplicationError(CommonError.TOKEN_NOT_VALID, str(message))


def _refresh_token(text: str) -> tuple[RefreshToken, User | None]:
    """A refresh token's signature and lifetime checked (401 when not), and the user it names, if any."""
    try:
        # simplejwt annotates the argument as a Token, though it takes (and documents) the encoded text.
        refresh = RefreshToken(text)  # type: ignore[arg-type]
    except TokenError as exc:
        raise _refused(str(exc.args[0])) from None
    user_id = refresh.get(jwt_settings.USER_ID_CLAIM)
    user = User.objects.filter(**{jwt_settings.USER_ID_FIELD: user_id}).first() if user_id else None
    return refresh, user


class RotatingRefreshSerializer(serializers.Serializer):
    """A refresh token -> a new access token and a new refresh token; the one given is spent.

    Refused (401 ``token_not_valid``): an expired, forged or already used (blacklisted) token, a token of a
    deleted or disabled user, a token issued before the user's last password change.
    """

    refresh = serializers.CharField(write_only=True)

    def validate(self, attrs: dict) -> dict:
        refresh, user = _refresh_token(attrs["refresh"])
        if user is None or not user.is_active:
            raise _refused(_("No active account found for the given token."))
        if not token_is_current(refresh, user):
            raise _refused(_("Token is revoked: the password was changed or the account signed out."))
        try:
            refresh_token_spend(refresh)
        except TokenError as exc:
            raise _refused(str(exc.args[0])) from None
        new = VersionedRefreshToken.for_user(user)
        return {"access": str(new.access_token), "refresh": str(new)}


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField(help_text="Send as `Authorization: Bearer <access>`; lives 15 minutes.")
    refresh = serializers.CharField(help_text="Works once: refreshing returns a new one. Lives 7 days.")


class TokenRefresh(TokenRefreshView):
    """Rotate: the refresh token given is blacklisted, a new pair comes back. Reusing it: 401."""

    serializer_class = RotatingRefreshSerializer
    throttle_scope = "login"
    permission_classes = [AllowAny]  # type: ignore[assignment]  # as TokenView's

    @extend_schema(
        request=RotatingRefreshSerializer,
        responses={200: TokenPairSerializer, 401: OpenApiResponse(ErrorSerializer, "token_not_valid")},
        summary="Exchange a refresh token (once) for a new access and refresh token",
    )
    def post(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().post(request, *args, **kwargs)


class LogoutSerializer(serializers.Serializer):
    refresh = serializers.CharField(write_only=True, help_text="The refresh token to end.")
    everywhere = serializers.BooleanField(
        default=False,
        help_text="Also end every other token of the account (all devices), as a password change does.",
    )


class LogoutView(APIView):
    """Sign out: the refresh token is blacklisted (and with ``everywhere``, every token of the account).

    Needs only the refresh token, so a client whose access token expired can still sign out. The access
    token in hand keeps working until it expires (at most ``JWT_ACCESS_MINUTES``) unless ``everywhere``.
    """

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_scope = "login"

    @extend_schema(
        request=LogoutSerializer,
        responses={204: None, 401: OpenApiResponse(ErrorSerializer, "token_not_valid")},
        summary="Sign out: end a refresh token (or every token of the account)",
    )
    def post(self, request: Request) -> Response:
        data = validated(LogoutSerializer, request.data)
        refresh, user = _refresh_token(data["refresh"])
        if user is not None and token_is_current(refresh, user):
            refresh.blacklist()
            if data["everywhere"]:
                user_tokens_revoke(user=user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    phone = serializers.CharField(source="masked_phone", help_text="Masked: 138****2222.")
    name = serializers.CharField(source="masked_name", help_text="Masked: 张*.")
    language = serializers.ChoiceField(
        choices=settings.LANGUAGES,
        help_text="The account's language: it decides the web pages, error messages of requests that name no "
        "language, dates and SMS. Change it with PATCH.",
    )
    date_joined = serializers.DateTimeField()
    contact_window_start = serializers.TimeField(
        format="%H:%M",
        allow_null=True,
        help_text="The customer's own contact hours for repayment calls and SMS, from (HH:MM, China time); "
        "null: our usual hours (08:00-22:00).",
    )
    contact_window_end = serializers.TimeField(
        format="%H:%M",
        allow_null=True,
        help_text="Until (HH:MM, not included); the window may cross midnight. Null when the start is null.",
    )


class MeUpdateSerializer(serializers.Serializer):
    """What a customer may change on their account: the language and the contact hours. A PATCH names
    only what it changes, so an empty body changes nothing."""

    language = serializers.ChoiceField(
        choices=settings.LANGUAGES,
        required=False,
        help_text="One of the offered languages; anything else is 400 `invalid_request` with "
        "`fields.language`.",
    )
    contact_window_start = serializers.TimeField(
        required=False,
        allow_null=True,
        input_formats=["%H:%M"],
        help_text="HH:MM. Give both times, or both null to go back to our usual hours; one without the "
        "other (or two equal times) is 400 `invalid_contact_window`.",
    )
    contact_window_end = serializers.TimeField(
        required=False, allow_null=True, input_formats=["%H:%M"], help_text="HH:MM, not included."
    )


class MeView(APIView):
    @extend_schema(responses=MeSerializer, summary="The signed-in customer")
    def get(self, request: AuthenticatedRequest) -> Response:
        return Response(MeSerializer(request.user).data)

    @extend_schema(
        request=MeUpdateSerializer,
        responses=MeSerializer,
        summary="Change the account's language or contact hours",
        description=(
            "The same setting the web's switch saves (`language_set`): pages, SMS and the messages of "
            "requests without `Accept-Language` follow it from the next request on. Setting the language "
            "the account already has changes nothing and answers the same. The contact hours are the "
            "window in which collection may call or text (the web's 我的账户 → contact hours). Needs no "
            "Idempotency-Key: sending it twice leaves the same result."
        ),
    )
    def patch(self, request: AuthenticatedRequest) -> Response:
        data = validated(MeUpdateSerializer, request.data)
        if "contact_window_start" in data or "contact_window_end" in data:  # first: it may refuse
            contact_window_set(
                user=request.user,
                start=data.get("contact_window_start", request.user.contact_window_start),
                end=data.get("contact_window_end", request.user.contact_window_end),
            )
        if "language" in data:
            language_set(user=request.user, language=data["language"])
        return Response(MeSerializer(request.user).data)


class OtpRequestSerializer(serializers.Serializer):
    purpose = serializers.ChoiceField(choices=OtpPurpose.choices)


class OtpView(APIView):
    throttle_scope = "otp"

    @extend_schema(
        request=OtpRequestSerializer,
        responses={
            202: inline_serializer(
                "OtpSent",
                {"sent_to": serializers.CharField(), "expires_in_seconds": serializers.IntegerField()},
            )
        },
        summary="Send an SMS code for a purpose (bind_card, change_autodebit_card, accept_negotiation, "
        "restage, extension, ...)",
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        data = validated(OtpRequestSerializer, request.data)
        otp_request(user=request.user, purpose=data["purpose"])
        return Response(
            {"sent_to": request.user.masked_phone, "expires_in_seconds": settings.OTP_TTL_MINUTES * 60},
            status=status.HTTP_202_ACCEPTED,
        )
