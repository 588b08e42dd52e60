"""立即还款: modes, allocation, refusals, idempotency, scheduling, one-time cards, timeouts, staff, ledger."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.utils import timezone, translation
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from accounts.models import User
from config.celery import app
from core.errors import ApplicationError
from installments.models import CreditEvent, Installment, InstallmentStatus, PlanStatus
from installments.services import overdue_sweep, plan_create
from notifications.models import Notification
from repayments.ledger import ledger_breaches
from repayments.models import Allocation, BankCard, Repayment, RepaymentStatus
from repayments.selectors import plan_balance
from repayments.services import (
    OneTimeCard,
    repayment_cancel,
    repayment_create,
    repayment_record_offline,
    repayment_reverse,
    repayments_reconcile,
    repayments_run_scheduled,
)
from repayments.tasks import reconcile_repayments
from simulators.bank import simulator_balance, simulator_set_balance
from tests.cards import CMB_DEBIT
from tests.concurrency import at_once

D = Decimal


def pay(customer, plan, card, mode="custom", amount=None, key="k1", **kwargs) -> Repayment:
    return repayment_create(
        customer=customer,
        plan=plan,
        mode=mode,
        amount=amount,
        card=card,
        channel="web",
        idempotency_key=key,
        **kwargs,
    )


def paid(plan) -> list[tuple[int, Decimal, Decimal, Decimal, str]]:
    return [
        (i.sequence, i.penalty_paid, i.fee_paid, i.principal_paid, i.status)
        for i in plan.installments.order_by("sequence")
    ]


def test_due_now_pays_the_overdue_installments(customer, card, overdue_plan) -> None:
    balance = plan_balance(overdue_plan)
    assert balance.due_now == D("212.00")
    before = simulator_balance(card.gateway_token)
    repayment = pay(customer, overdue_plan, card, mode="due_now")
    assert repayment.status == RepaymentStatus.SUCCEEDED
    assert repayment.amount == D("212.00")
    assert simulator_balance(card.gateway_token) == before - D("212.00")
    rows = paid(overdue_plan)
    assert rows[0] == (1, D("0"), D("6.00"), D("100.00"), "paid")
    assert rows[1] == (2, D("0"), D("6.00"), D("100.00"), "paid")
    assert rows[2][4] == "pending"
    overdue_plan.refresh_from_db()
    assert overdue_plan.status == PlanStatus.ACTIVE  # cured
    sms = Notification.objects.get(template_code="repayment_received")
    assert "212.00" in sms.text
    assert "1,060.00" in sms.text
    assert list(ledger_breaches()) == []


def test_partial_payment_goes_fee_before_principal(customer, card, overdue_plan) -> None:
    pay(customer, overdue_plan, card, amount="50.00")
    assert paid(overdue_plan)[0] == (1, D("0"), D("6.00"), D("44.00"), "overdue")
    allocations = list(Allocation.objects.order_by("id").values_list("component", "amount"))
    assert allocations == [("fee", D("6.00")), ("principal", D("44.00"))]


def test_payoff_waives_fees_of_periods_not_started(customer, card, current_plan) -> None:
    balance = plan_balance(current_plan)
    # Waive policy: the current period's fee is owed, the 11 later ones are not.
    assert balance.payoff == D("1206.00")
    assert balance.due_now == D("0.00")
    repayment = pay(customer, current_plan, card, mode="payoff")
    assert repayment.amount == D("1206.00")
    current_plan.refresh_from_db()
    assert current_plan.status == PlanStatus.PAID_OFF
    assert all(i.status == InstallmentStatus.PAID for i in current_plan.installments.all())
    assert sum(i.fee_waived for i in current_plan.installments.all()) == D("66.00")
    assert list(ledger_breaches()) == []
    with pytest.raises(ApplicationError) as excinfo:
        pay(customer, current_plan, card, amount="1.00", key="after")
    assert excinfo.value.code == "plan_not_payable"


def test_prepayment_beyond_due_pays_next_installments(customer, card, overdue_plan) -> None:
    pay(customer, overdue_plan, card, amount="300.00")
    rows = paid(overdue_plan)
    assert rows[0][4] == rows[1][4] == "paid"
    assert rows[2] == (3, D("0"), D("6.00"), D("82.00"), "pending")


def test_overpayment_is_refused_and_nothing_charged(customer, card, current_plan) -> None:
    before = simulator_balance(card.gateway_token)
    with pytest.raises(ApplicationError) as excinfo:
        pay(customer, current_plan, card, amount="1206.01")
    assert excinfo.value.code == "amount_exceeds_outstanding"
    assert "1,206.00" in excinfo.value.message
    assert simulator_balance(card.gateway_token) == before
    assert not Repayment.objects.exists()


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"amount": "abc"}, "invalid_amount"),
        ({"amount": "0.00"}, "invalid_amount"),
        ({"amount": "1.005"}, "invalid_amount"),
        ({"amount": None}, "invalid_amount"),
        ({"mode": "everything"}, "invalid_mode"),
        ({"key": ""}, "idempotency_key_invalid"),
        ({"mode": "due_now"}, "nothing_due"),
    ],
)
def test_bad_input_is_refused_with_a_code(customer, card, current_plan, kwargs, code) -> None:
    with pytest.raises(ApplicationError) as excinfo:
        pay(customer, current_plan, card, **kwargs)
    assert excinfo.value.code == code
    assert not Repayment.objects.exists()


def test_other_customers_plan_and_card_are_not_found(
    customer, other_customer, card, bind, current_plan
) -> None:
    with pytest.raises(ApplicationError) as excinfo:
        pay(other_customer, current_plan, card, amount="10.00")
    assert excinfo.value.code == "plan_not_found"
    assert excinfo.value.status == 404
    other_card = bind(other_customer, number=CMB_DEBIT, reserved_phone="13911113333")
    with pytest.raises(ApplicationError) as excinfo:
        pay(customer, current_plan, other_card, amount="10.00")
    assert excinfo.value.code == "card_not_found"


def test_same_key_returns_the_first_repayment_and_charges_once(customer, card, current_plan) -> None:
    before = simulator_balance(card.gateway_token)
    first = pay(customer, current_plan, card, amount="10.00", key="same")
    second = pay(customer, current_plan, card, amount="10.00", key="same")
    assert first.pk == second.pk
    assert simulator_balance(card.gateway_token) == before - D("10.00")
    with pytest.raises(ApplicationError) as excinfo:
        pay(customer, current_plan, card, amount="11.00", key="same")
    assert excinfo.value.code == "idempotency_key_reused"


def test_insufficient_funds_fails_and_allocates_nothing(customer, card, overdue_plan) -> None:
    simulator_set_balance(card.gateway_token, D("100.00"))
    repayment = pay(customer, overdue_plan, card, mode="due_now")
    assert repayment.status == RepaymentStatus.FAILED
    assert repayment.failure_code == "insufficient_funds"
    assert not Allocation.objects.exists()
    assert simulator_balance(card.gateway_token) == D("100.00")
    # A failed attempt reserves nothing: the customer can pay what the card holds.
    assert pay(customer, overdue_plan, card, amount="100.00", key="k2").status == RepaymentStatus.SUCCEEDED


def test_scheduled_payment_runs_on_its_date_and_can_be_cancelled(customer, card, current_plan) -> None:
    today = timezone.localdate()
    next_due = plan_balance(current_plan).next_due_date
    with pytest.raises(ApplicationError) as excinfo:
        pay(customer, current_plan, card, amount="50.00", scheduled_for=next_due + timedelta(days=1))
    assert excinfo.value.code == "scheduled_date_invalid"
    scheduled = pay(customer, current_plan, card, amount="50.00", scheduled_for=today + timedelta(days=2))
    assert scheduled.status == RepaymentStatus.SCHEDULED
    assert Notification.objects.filter(template_code="repayment_scheduled").count() == 1
    other = pay(
        customer, current_plan, card, amount="20.00", key="k2", scheduled_for=today + timedelta(days=2)
    )
    repayment_cancel(customer=customer, repayment=other)
    assert repayments_run_scheduled(today=today + timedelta(days=1)) == 0
    assert repayments_run_scheduled(today=today + timedelta(days=2)) == 1
    scheduled.refresh_from_db()
    other.refresh_from_db()
    assert scheduled.status == RepaymentStatus.SUCCEEDED
    assert other.status == RepaymentStatus.CANCELLED
    with pytest.raises(ApplicationError) as excinfo:
        repayment_cancel(customer=customer, repayment=scheduled)
    assert excinfo.value.code == "repayment_not_cancellable"


def test_one_time_card_pays_without_being_bound(customer, current_plan) -> None:
    repayment = repayment_create(
        customer=customer,
        plan=current_plan,
        mode="custom",
        amount="30.00",
        one_time_card=OneTimeCard(number=CMB_DEBIT, holder_name=customer.real_name),
        channel="web",
        idempotency_key="once",
    )
    assert repayment.status == RepaymentStatus.SUCCEEDED
    with translation.override("zh-hans"):  # the label follows the active language
        assert repayment.card_display == f"招商银行 尾号{CMB_DEBIT[-4:]}"
    assert not BankCard.objects.exists()
    assert CMB_DEBIT not in repayment.one_time_card_token


def test_timeout_then_reconciliation_charges_exactly_once(customer, card, current_plan, settings) -> None:
    before = simulator_balance(card.gateway_token)
    settings.GATEWAY_SIM_TIMEOUT_RATE = 1.0
    repayment = pay(customer, current_plan, card, amount="40.00")
    assert repayment.status == RepaymentStatus.PENDING
    assert simulator_balance(card.gateway_token) == before - D("40.00")  # the money moved
    # While pending, the amount stays reserved against the balance.
    assert plan_balance(current_plan).available == D("1166.00")
    settings.GATEWAY_SIM_TIMEOUT_RATE = 0.0
    assert repayments_reconcile(older_than=timedelta(0)) == 1
    repayment.refresh_from_db()
    assert repayment.status == RepaymentStatus.SUCCEEDED
    assert repayments_reconcile(older_than=timedelta(0)) == 0
    assert simulator_balance(card.gateway_token) == before - D("40.00")
    assert list(ledger_breaches()) == []


def test_pending_never_charged_is_failed_by_reconciliation(customer, card, current_plan) -> None:
    repayment = Repayment.objects.create(
        customer=customer,
        plan=current_plan,
        amount=D("5.00"),
        mode="custom",
        channel="web",
        card=card,
        idempotency_key="crashed",
        charge_attempted_at=timezone.now() - timedelta(minutes=10),
    )
    assert repayments_reconcile() == 1
    repayment.refresh_from_db()
    assert repayment.status == RepaymentStatus.FAILED
    assert repayment.failure_code == "not_charged"


def test_staff_offline_payment_and_reversal(customer, card, overdue_plan) -> None:
    staff = User.objects.create_superuser("+8613900000009", "admin-pw-1234", real_name="客服")
    offline = repayment_record_offline(staff=staff, plan=overdue_plan, amount="106.00", reference="TRF-1")
    assert offline.status == RepaymentStatus.SUCCEEDED
    assert offline.channel == "staff"
    with pytest.raises(ApplicationError) as excinfo:
        repayment_record_offline(staff=staff, plan=overdue_plan, amount="1.00", reference="TRF-1")
    assert excinfo.value.code == "duplicate_reference"
    before = simulator_balance(card.gateway_token)
    card_payment = pay(customer, overdue_plan, card, mode="due_now")
    assert simulator_balance(card.gateway_token) == before - D("106.00")
    with pytest.raises(ApplicationError) as excinfo:
        repayment_reverse(staff=staff, repayment=card_payment, reason="")
    assert excinfo.value.code == "reason_required"
    with pytest.raises(ApplicationError) as excinfo:
        repayment_reverse(staff=customer, repayment=card_payment, reason="x")
    assert excinfo.value.code == "staff_only"
    repayment_reverse(staff=staff, repayment=card_payment, reason="customer disputed the charge")
    card_payment.refresh_from_db()
    assert card_payment.status == RepaymentStatus.REVERSED
    assert simulator_balance(card.gateway_token) == before
    assert paid(overdue_plan)[1] == (2, D("0"), D("0"), D("0"), "overdue")
    overdue_plan.refresh_from_db()
    assert overdue_plan.status == PlanStatus.OVERDUE
    event = card_payment.events.get(kind="reversed")
    assert event.actor == staff
    assert event.reason == "customer disputed the charge"
    assert list(ledger_breaches()) == []


@pytest.mark.ledger_corrupted
def test_check_ledger_passes_then_fails_on_a_corrupted_row(customer, card, overdue_plan, capsys) -> None:
    pay(customer, overdue_plan, card, amount="150.00")
    call_command("check_ledger")
    assert "Ledger OK" in capsys.readouterr().out
    Installment.objects.filter(plan=overdue_plan, sequence=3).update(principal_paid=D("1.00"))
    with pytest.raises(CommandError) as excinfo:
        call_command("check_ledger")
    assert excinfo.value.returncode == 1
    assert "#3" in capsys.readouterr().err


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    amounts=st.lists(st.integers(min_value=1, max_value=60_000).map(lambda c: D(c).scaleb(-2)), max_size=8)
)
def test_any_sequence_of_payments_keeps_every_invariant(customer, card, overdue_plan, amounts) -> None:
    with transaction.atomic():
        sid = transaction.savepoint()
        total_paid = D("0")
        for index, amount in enumerate(amounts):
            available = plan_balance(overdue_plan).available
            if amount > available:
                with pytest.raises(ApplicationError) as exc:
                    pay(customer, overdue_plan, card, amount=amount, key=f"h{index}")
                assert exc.value.code == "amount_exceeds_outstanding"
            else:
                pay(customer, overdue_plan, card, amount=amount, key=f"h{index}")
                total_paid += amount
            assert list(ledger_breaches()) == []
        allocated = sum(a.amount for a in Allocation.objects.filter(waived=False))
        assert allocated == total_paid
        transaction.savepoint_rollback(sid)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_threads_paying_one_plan_never_over_allocate(customer, card, current_plan) -> None:
    before = simulator_balance(card.gateway_token)
    results = at_once(20, lambda i: pay(customer, current_plan, card, amount="100.00", key=f"t{i}").status)
    succeeded = results.count(RepaymentStatus.SUCCEEDED)
    assert succeeded == 12  # 1,206.00 payable: twelve payments of 100.00 fit, the rest are refused
    assert results.count("amount_exceeds_outstanding") == 8
    assert simulator_balance(card.gateway_token) == before - D("1200.00")
    assert list(ledger_breaches()) == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_identical_requests_charge_once(customer, card, current_plan) -> None:
    before = simulator_balance(card.gateway_token)
    results = at_once(20, lambda i: pay(customer, current_plan, card, amount="25.00", key="same").pk)
    assert len(set(results)) == 1
    assert Repayment.objects.count() == 1
    assert simulator_balance(card.gateway_token) == before - D("25.00")
    assert list(ledger_breaches()) == []


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_real_worker_reconciles_a_timed_out_payment(customer, card, current_plan, settings) -> None:
    settings.GATEWAY_SIM_TIMEOUT_RATE = 1.0
    repayment = pay(customer, current_plan, card, amount="40.00")
    assert repayment.status == RepaymentStatus.PENDING
    settings.GATEWAY_SIM_TIMEOUT_RATE = 0.0
    Repayment.objects.filter(pk=repayment.pk).update(
        charge_attempted_at=timezone.now() - timedelta(minutes=10)
    )
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        assert reconcile_repayments.delay().get(timeout=30) == 1
    repayment.refresh_from_db()
    assert repayment.status == RepaymentStatus.SUCCEEDED


def test_percent_of_principal_policy_charges_an_early_repayment_fee(customer, card, flat_product) -> None:
    flat_product.prepayment_fee_policy = "percent_of_principal"
    flat_product.prepayment_fee_rate = D("0.01")
    flat_product.save()
    plan = plan_create(
        customer=customer,
        product=flat_product,
        principal="1200.00",
        tenor=12,
        purchase_date=timezone.localdate() - timedelta(days=5),
    )
    # The current period's fee (6.00) is owed; each later period owes 1% of its 100.00 instead of 6.00.
    assert plan_balance(plan).payoff == D("1217.00")
    pay(customer, plan, card, mode="payoff")
    plan.refresh_from_db()
    assert plan.status == PlanStatus.PAID_OFF
    installments = list(plan.installments.order_by("sequence"))
    assert sum(i.fee_paid for i in installments) == D("17.00")
    assert sum(i.fee_waived for i in installments) == D("55.00")


def test_paying_off_a_late_plan_cures_its_record(customer, card, overdue_plan) -> None:
    overdue_sweep(as_of=timezone.localdate())
    overdue_plan.refresh_from_db()
    assert overdue_plan.delinquency_bucket != "M0"
    assert overdue_plan.days_past_due > 0
    pay(customer, overdue_plan, card, mode="payoff")
    overdue_plan.refresh_from_db()
    assert overdue_plan.status == PlanStatus.PAID_OFF
    assert (overdue_plan.delinquency_bucket, overdue_plan.days_past_due) == ("M0", 0)
    cured = CreditEvent.objects.get(plan=overdue_plan, kind="cured")
    assert cured.to_bucket == "M0"
    assert cured.business_date == timezone.localdate()
