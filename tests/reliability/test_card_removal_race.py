"""Finding 20 with the real debit engine: a card whose auto-debit is at the bank is not removed, so the
customer is never told "card removed" and then charged on it."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import OtpPurpose, User
from core.errors import ApplicationError
from installments.schedules import add_months
from installments.services import plan_create
from notifications.models import Notification
from repayments.models import BankCard, CardStatus, Repayment, RepaymentStatus
from repayments.services import autodebit_set, card_bind_verified, card_unbind, debit_run_inline
from simulators.bank import simulator_set_balance
from tests.cards import CMB_DEBIT, ICBC_DEBIT
from tests.otp import CodeCatcher

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_card_is_not_removed_while_its_auto_debit_is_at_the_bank(flat_product, settings) -> None:
    settings.GATEWAY_SIM_LATENCY_MS = 1500  # the bank answers slowly: the charge is in flight a while
    today = timezone.localdate()
    customer = User.objects.create_user("+8613866664444", "Race-pass-2026", real_name="吴十")
    paying = card_bind_verified(
        customer=customer, number=ICBC_DEBIT, holder_name="吴十", reserved_phone="13866664444"
    )
    other = card_bind_verified(
        customer=customer, number=CMB_DEBIT, holder_name="吴十", reserved_phone="13866664444"
    )
    simulator_set_balance(paying.gateway_token, Decimal("10000.00"))
    purchase = today - timedelta(days=31)
    while add_months(purchase, 1) != today:
        purchase += timedelta(days=1)
    plan = plan_create(
        customer=customer, product=flat_product, principal="1200.00", tenor=12, purchase_date=purchase
    )
    autodebit_set(customer=customer, plan=plan, enabled=True, card=paying)

    errors: list[BaseException] = []

    def debit() -> None:
        try:
            debit_run_inline(business_date=today, slot=1)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    codes = CodeCatcher()
    try:
        code = codes.request(customer, OtpPurpose.CHANGE_AUTODEBIT_CARD)
        runner = threading.Thread(target=debit)
        runner.start()
        deadline = time.monotonic() + 10
        while not Repayment.objects.filter(card=paying, status=RepaymentStatus.PENDING).exists():
            assert time.monotonic() < deadline, "the debit never reached the bank"
            time.sleep(0.02)
        with pytest.raises(ApplicationError) as excinfo:
            card_unbind(customer=customer, card=paying, replacement=other, otp_code=code)
        assert excinfo.value.code == "payment_in_progress"
        runner.join(timeout=30)
        assert not errors, errors
        paying.refresh_from_db()
        assert paying.status == CardStatus.ACTIVE
        assert not Notification.objects.filter(user=customer, template_code="card_removed").exists()
        charged = Repayment.objects.get(card=paying, channel="auto_debit")
        assert charged.status == RepaymentStatus.SUCCEEDED
        # The bank has answered: now the card goes, with the code the refusal did not spend.
        card_unbind(customer=customer, card=paying, replacement=other, otp_code=code)
    finally:
        codes.close()
    paying.refresh_from_db()
    assert paying.status == CardStatus.REMOVED
    assert not Repayment.objects.filter(card=paying, requested_at__gt=paying.removed_at).exists()
    assert BankCard.objects.get(pk=other.pk).status == CardStatus.ACTIVE
