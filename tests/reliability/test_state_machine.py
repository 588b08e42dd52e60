"""A hypothesis state machine over the money-moving services, checking every invariant after each step.

Steps: buy on installments, pay (now, custom or payoff; a card that times out now and then), the overdue
sweep, auto-debit slots, offline payments, reversals, re-staging. After every step: ``check_ledger`` is
clean, and the bank's money equals ours (card charges - refunds = succeeded card repayments).
Each example runs in its own transaction, rolled back at the end.
"""

from __future__ import annotations

import os
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from accounts.models import User
from core.errors import ApplicationError
from installments.models import InstallmentProduct
from installments.services import overdue_sweep, plan_create, plan_restage
from repayments.gateway import GatewayError
from repayments.ledger import ledger_breaches
from repayments.models import Repayment, RepaymentStatus
from repayments.services import (
    autodebit_set,
    card_bind_verified,
    debit_run_inline,
    repayment_create,
    repayment_record_offline,
    repayment_reverse,
    repayments_reconcile,
)
from simulators.models import SimulatedCharge
from tests.cards import ICBC_DEBIT, luhn_complete

TIMEOUT_CARD = "6222020000000031"  # the simulated bank records the charge, then times out


class MoneyMachine(RuleBasedStateMachine):
    plans = Bundle("plans")

    def __init__(self) -> None:
        super().__init__()
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.today = timezone.localdate()
        self.product = InstallmentProduct.objects.create(
            code="sm", name="白条", fee_method="flat_fee", fee_rate=Decimal("0.005"), tenors=[3, 6, 12]
        )
        self.customer = User.objects.create_user("+8613877776666", "Machine-pass-2026", real_name="孙八")
        self.staff = User.objects.create_user(
            "+8613900009999", "Staff-pass-2026", real_name="客服", is_staff=True
        )
        self.cards = [
            card_bind_verified(
                customer=self.customer, number=n, holder_name="孙八", reserved_phone="13877776666"
            )
            for n in (ICBC_DEBIT, TIMEOUT_CARD, luhn_complete("622588000000777"))
        ]
        self.keys = 0

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)

    def _key(self) -> str:
        self.keys += 1
        return f"sm-{self.keys}"

    @rule(
        target=plans,
        principal=st.sampled_from(["300.00", "1200.00", "999.99"]),
        tenor=st.sampled_from([3, 6, 12]),
        days_ago=st.integers(min_value=1, max_value=120),
        autodebit=st.booleans(),
    )
    def buy(self, principal: str, tenor: int, days_ago: int, autodebit: bool):
        plan = plan_create(
            customer=self.customer,
            product=self.product,
            principal=principal,
            tenor=tenor,
            purchase_date=self.today - timedelta(days=days_ago),
        )
        if autodebit:
            autodebit_set(customer=self.customer, plan=plan, enabled=True, card=self.cards[0])
        return plan

    @rule(
        plan=plans,
        mode=st.sampled_from(["due_now", "payoff", "custom"]),
        amount=st.sampled_from(["0.01", "10.00", "106.00", "500.00"]),
        card=st.integers(min_value=0, max_value=2),
    )
    def pay(self, plan, mode: str, amount: str, card: int) -> None:
        try:
            repayment_create(
                customer=self.customer,
                plan=plan,
                mode=mode,
                amount=amount if mode == "custom" else None,
                card=self.cards[card],
                channel="web",
                idempotency_key=self._key(),
            )
        except (ApplicationError, GatewayError):
            pass

    @rule()
    def reconcile(self) -> None:
        repayments_reconcile(older_than=timedelta(0))

    @rule()
    def sweep(self) -> None:
        overdue_sweep(as_of=self.today)

    @rule(slot=st.integers(min_value=1, max_value=3))
    def autodebit(self, slot: int) -> None:
        debit_run_inline(business_date=self.today, slot=slot)

    @rule(plan=plans, amount=st.sampled_from(["1.00", "50.00"]))
    def offline(self, plan, amount: str) -> None:
        try:
            repayment_record_offline(staff=self.staff, plan=plan, amount=amount, reference=self._key())
        except ApplicationError:
            pass

    @rule(data=st.data())
    def reverse(self, data) -> None:
        succeeded = list(Repayment.objects.filter(status=RepaymentStatus.SUCCEEDED).order_by("id"))
        if not succeeded:
            return
        try:
            repayment_reverse(
                staff=self.staff, repayment=data.draw(st.sampled_from(succeeded)), reason="test"
            )
        except ApplicationError:
            pass

    @rule(plan=plans, tenor=st.sampled_from([6, 12, 24]))
    def restage(self, plan, tenor: int) -> None:
        try:
            plan_restage(customer=self.customer, plan_id=plan.pk, tenor=tenor)
        except ApplicationError:
            pass

    @invariant()
    def ledger_is_clean(self) -> None:
        assert list(ledger_breaches()) == []

    @invariant()
    def the_banks_money_equals_ours(self) -> None:
        tokens = [c.gateway_token for c in self.cards]
        charged = SimulatedCharge.objects.filter(token__in=tokens, status="succeeded").aggregate(
            s=Sum("amount")
        )
        refunded = SimulatedCharge.objects.filter(status="refund").aggregate(s=Sum("amount"))
        ours = Repayment.objects.filter(
            status__in=[RepaymentStatus.SUCCEEDED, RepaymentStatus.PENDING], card__isnull=False
        ).aggregate(s=Sum("amount"))
        pending_uncharged = sum(
            (
                r.amount
                for r in Repayment.objects.filter(status=RepaymentStatus.PENDING, card__isnull=False)
                if not SimulatedCharge.objects.filter(idempotency_key__endswith=str(r.public_id)).exists()
            ),
            Decimal("0.00"),
        )
        bank = (charged["s"] or Decimal("0")) - (refunded["s"] or Decimal("0"))
        assert bank == (ours["s"] or Decimal("0")) - pending_uncharged


@pytest.mark.django_db
def test_money_state_machine() -> None:
    run_state_machine_as_test(
        MoneyMachine,
        settings=settings(
            max_examples=int(os.environ.get("STATE_MACHINE_EXAMPLES", "12")),
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
