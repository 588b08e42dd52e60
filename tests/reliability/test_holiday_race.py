"""A customer accepting a payment holiday while a payment lands on the same plan (PostgreSQL, real row locks):
both lock the plan through ``installments.ledger.lock_plans``. The payment first: installment 1 is paid, the
holiday would now start at installment 2, not what was offered, so the acceptance is refused
(``holiday_terms_changed``). The holiday first: the payment lands on the moved installment. Either way the
books stay right, and the same offer accepted twice at once is applied once."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import OtpPurpose
from installments.journal import sub_ledger_gaps
from installments.models import CreditEvent, CreditEventKind, HolidayState, PaymentHoliday
from installments.services import holiday_accept, holiday_propose, plan_create
from repayments.ledger import ledger_breaches
from repayments.services import repayment_record_offline
from tests.concurrency import at_once
from tests.factories import CustomerFactory, ProductFactory, StaffFactory
from tests.otp import CodeCatcher

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _offered(round_: int):
    staff = StaffFactory(is_superuser=True)
    customer = CustomerFactory()
    plan = plan_create(
        customer=customer, product=ProductFactory(), principal=Decimal("1200.00"), tenor=6,
        purchase_date=timezone.localdate() - timedelta(days=5), merchant_order_ref=f"HOLIDAY-RACE-{round_}",
    )  # fmt: skip
    holiday_propose(plan=plan, periods=1, reason="illness", note="", actor=staff)
    return staff, customer, plan


@pytest.mark.parametrize("round_", range(3))
def test_an_acceptance_and_a_payment_at_once_end_right(round_: int) -> None:
    staff, customer, plan = _offered(round_)
    codes = CodeCatcher()
    try:
        code = codes.request(customer, OtpPurpose.ACCEPT_HOLIDAY)
    finally:
        codes.close()
    first = plan.installments.get(sequence=1)

    def act(index: int) -> object:
        if index == 0:
            return holiday_accept(customer=customer, plan_public_id=plan.public_id, otp_code=code)
        return repayment_record_offline(
            staff=staff, plan=plan, amount=first.principal_due + first.fee_due, reference=f"HR-{round_}"
        )

    outcomes = at_once(2, act)
    refusals = [o for o in outcomes if isinstance(o, str)]
    assert refusals in ([], ["holiday_terms_changed"]), outcomes
    applied = PaymentHoliday.objects.get(plan=plan).state == HolidayState.APPLIED
    assert applied == (not refusals)
    assert CreditEvent.objects.filter(plan=plan, kind=CreditEventKind.HOLIDAY).count() == int(applied)
    assert sub_ledger_gaps([plan.pk]) == {}
    assert list(ledger_breaches()) == []


def test_the_same_offer_accepted_twice_at_once_is_applied_once() -> None:
    _staff, customer, plan = _offered(9)
    codes = CodeCatcher()
    try:
        code = codes.request(customer, OtpPurpose.ACCEPT_HOLIDAY)
    finally:
        codes.close()
    before = plan.installments.get(sequence=1).due_date

    outcomes = at_once(
        2, lambda _i: holiday_accept(customer=customer, plan_public_id=plan.public_id, otp_code=code)
    )

    assert sum(1 for o in outcomes if isinstance(o, PaymentHoliday)) == 1, outcomes
    assert plan.installments.get(sequence=1).due_date > before
    assert CreditEvent.objects.filter(plan=plan, kind=CreditEventKind.HOLIDAY).count() == 1
    assert list(ledger_breaches()) == []
