"""API: the payment holiday staff offered on a plan (还款假期): read it, accept it with the SMS code, or
decline it. Views parse, call one service, shape the answer."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.http import AuthenticatedRequest
from accounts.idempotency import idempotent
from core.api import validated
from core.api_schema import IDEMPOTENCY_HEADER, MONEY
from installments.models import InstallmentPlan, PaymentHoliday
from installments.services import holiday_accept, holiday_decline, holiday_offered


class HolidaySerializer(serializers.Serializer):
    plan_id = serializers.UUIDField(source="plan.public_id")
    state = serializers.CharField()
    periods = serializers.IntegerField(
        help_text="Payments skipped: each open installment moves this many months."
    )
    fee = serializers.DecimalField(**MONEY, help_text="Added to the first moved installment.")
    first_sequence = serializers.IntegerField(help_text="The first installment that moves.")
    installments_moved = serializers.IntegerField()
    next_due_before = serializers.DateField()
    next_due_after = serializers.DateField()
    last_due_before = serializers.DateField()
    last_due_after = serializers.DateField()
    next_amount_after = serializers.DecimalField(**MONEY)
    apr_percent_before = serializers.DecimalField(
        max_digits=6,
        decimal_places=2,
        coerce_to_string=True,
        help_text="The schedule's dated APR now (each payment on its date, actual/365).",
    )
    apr_percent_after = serializers.DecimalField(max_digits=6, decimal_places=2, coerce_to_string=True)
    offered_until = serializers.DateTimeField()


class HolidayAcceptSerializer(serializers.Serializer):
    otp_code = serializers.CharField(max_length=6, help_text="From POST /otp/ with purpose accept_holiday.")


def _own_plan(request: Request, public_id: object) -> InstallmentPlan:
    """The customer's own plan, or 404 (another customer's plan is no different from a made-up id)."""
    return get_object_or_404(InstallmentPlan, customer=request.user, public_id=public_id)


def _shown(holiday: PaymentHoliday) -> dict:
    return dict(HolidaySerializer(holiday).data)


class HolidayView(APIView):
    @extend_schema(
        responses=HolidaySerializer,
        summary="The payment holiday offered on a plan (404 `holiday_not_found` when none is)",
    )
    def get(self, request: AuthenticatedRequest, public_id: str) -> Response:
        plan = _own_plan(request, public_id)
        return Response(_shown(holiday_offered(customer=request.user, plan_public_id=plan.public_id)))


class HolidayAcceptView(APIView):
    @extend_schema(
        request=HolidayAcceptSerializer,
        responses=HolidaySerializer,
        parameters=[IDEMPOTENCY_HEADER],
        summary="Accept the payment holiday with the SMS code: the plan's due dates move",
        description=(
            "Show the customer the terms from `GET .../holiday/`, send the code with `POST /otp/` "
            '`{"purpose": "accept_holiday"}`, then post it. A wrong code is 422 (`otp_invalid`, ...) and '
            "changes nothing; an expired offer is 409 `offer_expired`; a payment being processed on the plan "
            "is 409 `payment_in_progress` (try again in a few minutes); a plan that changed since the offer "
            "is 409 `holiday_terms_changed`. Payments scheduled on the plan are cancelled. Use a new "
            "Idempotency-Key for each code tried."
        ),
    )
    @idempotent
    def post(self, request: AuthenticatedRequest, public_id: str) -> Response:
        plan = _own_plan(request, public_id)
        data = validated(HolidayAcceptSerializer, request.data)
        holiday = holiday_accept(
            customer=request.user, plan_public_id=plan.public_id, otp_code=data["otp_code"]
        )
        return Response(_shown(holiday))


class HolidayDeclineView(APIView):
    @extend_schema(
        request=None,
        responses=HolidaySerializer,
        parameters=[IDEMPOTENCY_HEADER],
        summary="Decline the payment holiday (final; the client asks the customer to confirm first)",
    )
    @idempotent
    def post(self, request: AuthenticatedRequest, public_id: str) -> Response:
        plan = _own_plan(request, public_id)
        return Response(_shown(holiday_decline(customer=request.user, plan_public_id=plan.public_id)))
