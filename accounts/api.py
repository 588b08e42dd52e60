"""API: tokens (JWT), the caller's profile and SMS codes."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from phonenumber_field.phonenumber import to_python
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from accounts.models import OtpPurpose
from accounts.services import otp_request
from config.api import validated


class PhoneTokenSerializer(TokenObtainPairSerializer):
    """phone + password -> access and refresh tokens. The phone may be national (13812345678) or E.164."""

    def validate(self, attrs: dict) -> dict:
        phone = to_python(attrs.get("phone"), region="CN")
        if phone is not None and phone.is_valid():
            attrs["phone"] = phone.as_e164
        return super().validate(attrs)


class TokenView(TokenObtainPairView):
    serializer_class = PhoneTokenSerializer
    throttle_scope = "login"
    permission_classes = [AllowAny]


class TokenRefresh(TokenRefreshView):
    throttle_scope = "login"
    permission_classes = [AllowAny]


class MeSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    phone = serializers.CharField(source="masked_phone", help_text="Masked: 138****2222.")
    name = serializers.CharField(source="masked_name", help_text="Masked: 张*.")
    language = serializers.CharField()
    date_joined = serializers.DateTimeField()


class MeView(APIView):
    @extend_schema(responses=MeSerializer, summary="The signed-in customer")
    def get(self, request: Request) -> Response:
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
        summary="Send an SMS code for a purpose (bind_card, change_autodebit_card, accept_negotiation, ...)",
    )
    def post(self, request: Request) -> Response:
        data = validated(OtpRequestSerializer, request.data)
        otp_request(user=request.user, purpose=data["purpose"])
        return Response(
            {"sent_to": request.user.masked_phone, "expires_in_seconds": settings.OTP_TTL_MINUTES * 60},
            status=status.HTTP_202_ACCEPTED,
        )
