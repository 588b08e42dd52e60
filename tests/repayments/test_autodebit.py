"""自动扣款: the setting, the debit run, retries, hard declines, redelivery, reminders and run_daily."""

from __future__ import annotations

import threading
import time as _time
from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from celery.contrib.testing.worker import start_worker
from django.core.management import call_command
from django.db import connection
from django.db.models import F
from django.utils import timezone

from accounts.models import OtpPurpose
from config.celery import app
from core.errors import ApplicationError
from installments.models import FreezeReason, Installment, InstallmentPlan
from installments.services import overdue_sweep, plan_create, plan_freeze_end, plan_freeze_start
from notifications.models import Notification
from repayments.ledger import ledger_breaches
from repayments.models import (
    AutoDebitMandate,
    DebitAttempt,
    DebitRun,
    Repayment,
    RepaymentEvent,
    RepaymentStatus,
)
from repayments.services import (
    autodebit_set,
    debit_chunk_process,
    debit_run_inline,
    debit_run_plan,
    reminders_send,
    repayment_create,
    repayment_reverse,
    repayments_reconcile,
    run_daily,
)
from repayments.services.autodebit import _record_attempts
from repayments.tasks import debit_slot
from simulators.bank import simulator_balance, simulator_set_balance
from tests.cards import CMB_DEBIT
from tests.concurrency import at_once
from tests.ledger_writes import update_installments
from tests.schedule_dates import first_due_on, purchase_due_on

D = Decimal
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _plan(customer, product, purchase, ref: str) -> InstallmentPlan:
    return plan_create(
        customer=customer,
        product=product,
        principal=D("1200.00"),
        tenor=12,
        purchase_date=purchase,
        merchant_order_ref=ref,
    )


@pytest.fixture
def today():
    return timezone.localdate()


@pytest.fixture
def due_today_plan(customer, flat_product, card, today) -> InstallmentPlan:
    """Installment 1 (106.00) is due today; auto-debit is on with the customer's card."""
    plan = _plan(customer, flat_product, purchase_due_on(today), "DUE-TODAY")
    first_due_on(plan, today)
    autodebit_set(customer=customer, plan=plan, enabled=True)
    return plan


def test_setting_needs_a_card_and_a_code_to_change_it(customer, current_plan, bind, codes) -> None:
    with pytest.raises(ApplicationError) as excinfo:
        autodebit_set(customer=customer, plan=current_plan, enabled=True)
    assert excinfo.value.code == "card_required"
    first = bind(customer)
    mandate = autodebit_set(customer=customer, plan=current_plan, enabled=True)
    assert mandate.card == first
    assert mandate.enabled
    second = bind(customer, number=CMB_DEBIT)
    with pytest.raises(ApplicationError) as excinfo:
        autodebit_set(customer=customer, plan=current_plan, enabled=True, card=second, otp_code="000000")
    assert excinfo.value.code.startswith("otp_")
    code = codes.request(customer, OtpPurpose.CHANGE_AUTODEBIT_CARD)
    mandate = autodebit_set(customer=customer, plan=current_plan, enabled=True, card=second, otp_code=code)
    assert mandate.card == second
    assert not autodebit_set(customer=customer, plan=current_plan, enabled=False).enabled


def test_turning_off_a_plan_that_never_had_auto_debit_and_no_card_is_a_clear_refusal(
    customer, current_plan
) -> None:
    """It crashed with AttributeError (no mandate to take the card from): now the customer is told to bind
    a card, and nothing is written."""
    with pytest.raises(ApplicationError) as excinfo:
        autodebit_set(customer=customer, plan=current_plan, enabled=False)
    assert excinfo.value.code == "card_required"
    assert not AutoDebitMandate.objects.filter(plan=current_plan).exists()


def test_run_debits_exactly_the_due_plans_once(customer, flat_product, card, due_today_plan, today) -> None:
    no_mandate = first_due_on(
        _plan(customer, flat_product, due_today_plan.purchase_date, "NO-MANDATE"), today
    )
    not_due = _plan(customer, flat_product, today - timedelta(days=3), "NOT-DUE")
    autodebit_set(customer=customer, plan=not_due, enabled=True)
    before = simulator_balance(card.gateway_token)
    run = debit_run_inline(business_date=today, slot=1)
    assert (run.attempts, run.succeeded, run.failed, run.amount_charged) == (1, 1, 0, D("106.00"))
    assert run.status == "finished"
    assert simulator_balance(card.gateway_token) == before - D("106.00")
    attempt = DebitAttempt.objects.get()
    assert attempt.plan == due_today_plan
    assert attempt.attempt_number == 1
    assert attempt.repayment.channel == "auto_debit"
    assert attempt.repayment.status == RepaymentStatus.SUCCEEDED
    assert Notification.objects.filter(template_code="autodebit_succeeded").count() == 1
    # Later slots and a re-run of the same slot charge nothing more: the installment is paid.
    debit_run_inline(business_date=today, slot=1)
    debit_run_inline(business_date=today, slot=2)
    assert simulator_balance(card.gateway_token) == before - D("106.00")
    assert not Repayment.objects.filter(plan__in=[no_mandate, not_due]).exists()


def test_redelivered_chunk_charges_nothing_twice(customer, card, due_today_plan, today) -> None:
    before = simulator_balance(card.gateway_token)
    _run, chunks = debit_run_plan(business_date=today, slot=1)
    assert len(chunks) == 1
    debit_chunk_process(chunk=chunks[0])
    debit_chunk_process(chunk=chunks[0])
    assert simulator_balance(card.gateway_token) == before - D("106.00")
    assert DebitAttempt.objects.count() == 1


def test_customer_who_paid_is_not_debited(customer, card, due_today_plan, today) -> None:
    repayment_create(
        customer=customer, plan=due_today_plan, mode="due_now", card=card, channel="web", idempotency_key="p"
    )
    run = debit_run_inline(business_date=today, slot=1)
    assert run.attempts == 0
    assert not DebitAttempt.objects.exists()


def test_retries_follow_the_slots_and_grace_days(customer, card, due_today_plan, today) -> None:
    simulator_set_balance(card.gateway_token, D("50.00"))
    for slot in (1, 2, 3):
        debit_run_inline(business_date=today, slot=slot)
    assert list(DebitAttempt.objects.order_by("id").values_list("attempt_number", "failure_code")) == [
        (1, "insufficient_funds"),
        (2, "insufficient_funds"),
        (3, "insufficient_funds"),
    ]
    assert Notification.objects.filter(template_code="autodebit_failed").count() == 3
    sms = Notification.objects.filter(template_code="autodebit_failed").first()
    assert "余额不足" in sms.text
    # Grace days (3): the first slot retries once a day; other slots do nothing.
    for day in (1, 2, 3, 4):
        for slot in (1, 2, 3):
            debit_run_inline(business_date=today + timedelta(days=day), slot=slot)
    per_day = list(
        DebitAttempt.objects.filter(business_date__gt=today)
        .order_by("business_date")
        .values_list("business_date", flat=True)
    )
    assert per_day == [today + timedelta(days=d) for d in (1, 2, 3)]
    simulator_set_balance(card.gateway_token, D("1000.00"))
    assert DebitAttempt.objects.filter(status="succeeded").count() == 0


def test_hard_decline_stops_and_falls_back_to_the_default_card(customer, bind, flat_product, today) -> None:
    declining = bind(customer, number="6222020000000007")
    plan = _plan(customer, flat_product, today - timedelta(days=31), "DECLINE")
    Installment.objects.filter(plan=plan, sequence=1).update(due_date=today)
    autodebit_set(customer=customer, plan=plan, enabled=True, card=declining)
    debit_run_inline(business_date=today, slot=1)
    attempt = DebitAttempt.objects.get()
    assert attempt.failure_code == "declined"
    mandate = AutoDebitMandate.objects.get(plan=plan)
    assert not mandate.enabled  # no other card: auto-debit is off and the customer is told
    assert Notification.objects.filter(template_code="autodebit_disabled").count() == 1
    debit_run_inline(business_date=today, slot=2)
    assert DebitAttempt.objects.count() == 1


def test_hard_decline_moves_to_another_default_card(customer, bind, flat_product, today) -> None:
    good = bind(customer)
    declining = bind(customer, number="6222020000000007")
    plan = _plan(customer, flat_product, today - timedelta(days=31), "DECLINE2")
    Installment.objects.filter(plan=plan, sequence=1).update(due_date=today)
    autodebit_set(customer=customer, plan=plan, enabled=True, card=declining)
    debit_run_inline(business_date=today, slot=1)
    mandate = AutoDebitMandate.objects.get(plan=plan)
    assert mandate.card == good
    assert mandate.enabled
    debit_run_inline(business_date=today, slot=2)
    assert list(DebitAttempt.objects.order_by("id").values_list("card_id", "status")) == [
        (declining.pk, "failed"),
        (good.pk, "succeeded"),
    ]


def test_reminders_fire_on_their_days(customer, flat_product, card, today) -> None:
    plan = _plan(customer, flat_product, today - timedelta(days=5), "REMIND")
    first_due = plan.first_due_date
    sent = {}
    day = first_due - timedelta(days=4)
    while day <= first_due + timedelta(days=31):
        overdue_sweep(as_of=day)
        sent[day] = reminders_send(business_date=day)
        day += timedelta(days=1)
    reminder_days = sorted(d for d, n in sent.items() if n)
    dues = list(plan.installments.order_by("sequence").values_list("due_date", flat=True))
    expected = sorted(
        {due - timedelta(days=n) for due in dues for n in (3, 1)}
        | {due + timedelta(days=n) for due in dues for n in (1, 3, 7, 15, 30)}
    )
    window = [d for d in expected if first_due - timedelta(days=4) <= d <= first_due + timedelta(days=31)]
    assert reminder_days == window
    assert first_due - timedelta(days=3) in window
    assert first_due + timedelta(days=30) in window
    first_late = Notification.objects.filter(template_code="overdue_reminder").order_by("id").first()
    assert "¥106.00" in first_late.text  # what is owed on the overdue installment
    # Running a day again writes nothing new (deduped).

    count = Notification.objects.count()
    reminders_send(business_date=first_due - timedelta(days=3))
    assert Notification.objects.count() == count


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_on_one_run_do_not_double_charge(customer, flat_product, bind, today, settings) -> None:
    settings.AUTODEBIT_GATEWAY_CONCURRENCY = 4
    card = bind(customer)
    plans = []
    for i in range(12):
        plan = _plan(customer, flat_product, today - timedelta(days=31), f"W{i}")
        Installment.objects.filter(plan=plan, sequence=1).update(due_date=today)
        autodebit_set(customer=customer, plan=plan, enabled=True)
        plans.append(plan)
    before = simulator_balance(card.gateway_token)
    _run, chunks = debit_run_plan(business_date=today, slot=1)
    barrier = threading.Barrier(4)

    def worker() -> None:
        try:
            barrier.wait()
            for chunk in chunks:
                debit_chunk_process(chunk=chunk)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert DebitAttempt.objects.count() == 12
    assert Repayment.objects.filter(status="succeeded").count() == 12
    assert simulator_balance(card.gateway_token) == before - D("106.00") * 12
    assert list(ledger_breaches()) == []


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_real_worker_runs_a_slot(customer, card, due_today_plan, today, settings) -> None:
    settings.AUTODEBIT_CHUNK_SIZE = 1
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        assert debit_slot.delay(1, today.isoformat()).get(timeout=30) == 1
        deadline = timezone.now() + timedelta(seconds=20)
        while timezone.now() < deadline and not DebitRun.objects.filter(status="finished").exists():
            _time.sleep(0.1)
    run = DebitRun.objects.get()
    assert run.status == "finished"
    assert run.succeeded == 1


@pytest.mark.django_db(transaction=True)
def test_forty_days_of_run_daily_leave_the_ledger_clean(
    customer, other_customer, flat_product, bind, settings
) -> None:
    settings.AUTODEBIT_GATEWAY_CONCURRENCY = 4
    start = timezone.localdate()
    with time_machine.travel(datetime.combine(start, time(9), tzinfo=SHANGHAI), tick=False):
        card = bind(customer)
        other_card = bind(other_customer, number=CMB_DEBIT, reserved_phone="13911113333")
        simulator_set_balance(other_card.gateway_token, D("150.00"))
        plans = [
            _plan(customer, flat_product, start - timedelta(days=20), "P1"),
            _plan(customer, flat_product, start - timedelta(days=45), "P2"),
            _plan(other_customer, flat_product, start - timedelta(days=10), "P3"),
            _plan(other_customer, flat_product, start - timedelta(days=60), "P4"),
        ]
        autodebit_set(customer=customer, plan=plans[0], enabled=True)
        autodebit_set(customer=other_customer, plan=plans[2], enabled=True)
        autodebit_set(customer=other_customer, plan=plans[3], enabled=True)
    for offset in range(40):
        day = start + timedelta(days=offset)
        with time_machine.travel(datetime.combine(day, time(9), tzinfo=SHANGHAI), tick=False):
            run_daily(business_date=day)
            if offset == 10:
                repayment_create(
                    customer=customer,
                    plan=plans[1],
                    mode="due_now",
                    card=card,
                    channel="web",
                    idempotency_key="m1",
                )
            assert list(ledger_breaches()) == [], day
    call_command("check_ledger")
    assert DebitAttempt.objects.filter(status="succeeded").exists()
    assert DebitAttempt.objects.filter(failure_code="insufficient_funds").exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_manual_payment_racing_an_autodebit_settles_the_installment_once(
    customer, flat_product, bind, today
) -> None:
    card = bind(customer)
    for round_ in range(5):
        plan = _plan(customer, flat_product, today - timedelta(days=31), f"RACE{round_}")
        Installment.objects.filter(plan=plan, sequence=1).update(due_date=today)
        autodebit_set(customer=customer, plan=plan, enabled=True)
        before = simulator_balance(card.gateway_token)

        def act(i: int, plan=plan, round_=round_) -> object:
            if i == 0:
                return repayment_create(
                    customer=customer,
                    plan=plan,
                    mode="due_now",
                    card=card,
                    channel="web",
                    idempotency_key=f"r{round_}",
                ).status
            return debit_run_inline(business_date=today, slot=round_ + 1 if round_ < 3 else 1).attempts

        at_once(2, act)
        charged = before - simulator_balance(card.gateway_token)
        assert charged == D("106.00"), (round_, charged)
        first = plan.installments.get(sequence=1)
        assert first.status == "paid"
        assert first.principal_paid == D("100.00")
        assert plan.installments.get(sequence=2).principal_paid == D("0")
    assert list(ledger_breaches()) == []


def test_retry_policy_is_per_product(customer, flat_product, card, due_today_plan, today) -> None:
    flat_product.autodebit_slots_per_day = 1
    flat_product.autodebit_retry_in_grace = False
    flat_product.save()
    simulator_set_balance(card.gateway_token, D("10.00"))
    for day in (0, 1, 2):
        for slot in (1, 2, 3):
            debit_run_inline(business_date=today + timedelta(days=day), slot=slot)
    assert list(DebitAttempt.objects.values_list("business_date", "attempt_number")) == [(today, 1)]


def test_debit_that_no_longer_fits_is_applied_and_the_rest_refunded(
    customer, card, due_today_plan, today
) -> None:
    """A waiver lands between recording the debit and settling it: the chunk applies what is due and refunds
    the rest to the card, through the same settle code as a customer's payment."""
    before = simulator_balance(card.gateway_token)
    run, chunks = debit_run_plan(business_date=today, slot=1)
    assert _record_attempts(run, chunks[0]) == 1
    assert DebitAttempt.objects.get().amount == D("106.00")
    # While the debit of 106.00 is recorded but not yet charged, staff settle the plan: installment 1's fee
    # (6.00) and every later installment are waived, so only 100.00 is left to take.
    update_installments(Installment.objects.filter(plan=due_today_plan, sequence=1), fee_waived=D("6.00"))
    update_installments(
        Installment.objects.filter(plan=due_today_plan, sequence__gt=1),
        principal_waived=F("principal_due"),
        fee_waived=F("fee_due"),
        status="waived",
    )
    debit_chunk_process(chunk=chunks[0])
    first = due_today_plan.installments.get(sequence=1)
    assert first.status == "paid"
    assert first.principal_paid == D("100.00")
    assert first.fee_paid == D("0")
    repayment = Repayment.objects.get()
    assert repayment.status == RepaymentStatus.SUCCEEDED
    assert sum(a.amount for a in repayment.allocations.all()) == D("100.00")
    assert simulator_balance(card.gateway_token) == before - D("100.00")  # 6.00 went back
    assert RepaymentEvent.objects.get(repayment=repayment, kind="excess_refunded").data == {"amount": "6.00"}
    sms = Notification.objects.get(template_code="autodebit_succeeded")
    assert "100.00" in sms.text
    assert "106.00" not in sms.text
    assert DebitRun.objects.get().succeeded == 1
    assert due_today_plan.__class__.objects.get(pk=due_today_plan.pk).status == "paid_off"


def test_reversing_a_debit_whose_excess_went_back_refunds_what_it_applied(
    customer, card, due_today_plan, today, agent
) -> None:
    """A debit of 106.00 applied 100.00 and sent 6.00 back; reversing it refunds the 100.00 it applied (the
    bank refuses a refund above what is left of the charge) and the card ends where it started."""
    before = simulator_balance(card.gateway_token)
    run, chunks = debit_run_plan(business_date=today, slot=1)
    assert _record_attempts(run, chunks[0]) == 1
    update_installments(Installment.objects.filter(plan=due_today_plan, sequence=1), fee_waived=D("6.00"))
    update_installments(
        Installment.objects.filter(plan=due_today_plan, sequence__gt=1),
        principal_waived=F("principal_due"),
        fee_waived=F("fee_due"),
        status="waived",
    )
    debit_chunk_process(chunk=chunks[0])
    repayment = Repayment.objects.get()
    assert RepaymentEvent.objects.get(repayment=repayment, kind="excess_refunded").data == {"amount": "6.00"}
    repayment_reverse(staff=agent, repayment=repayment, reason="customer disputed the debit")
    repayment.refresh_from_db()
    assert repayment.status == RepaymentStatus.REVERSED
    assert simulator_balance(card.gateway_token) == before
    first = due_today_plan.installments.get(sequence=1)
    assert (first.principal_paid, first.fee_paid) == (D("0"), D("0"))
    assert first.status != "paid"
    assert list(ledger_breaches()) == []


def test_reconciled_debit_settles_its_attempt(customer, card, due_today_plan, today, settings) -> None:
    """The bank's answer to a debit was lost (timeout): reconciliation later settles the repayment, and the
    attempt, the customer's SMS and the plan follow as if the answer had come in time."""
    settings.GATEWAY_SIM_TIMEOUT_RATE = 1.0
    run = debit_run_inline(business_date=today, slot=1)
    assert (run.attempts, run.succeeded, run.failed) == (1, 0, 0)
    attempt = DebitAttempt.objects.get()
    assert attempt.status == "pending"
    assert attempt.repayment.status == RepaymentStatus.PENDING
    settings.GATEWAY_SIM_TIMEOUT_RATE = 0.0
    assert repayments_reconcile(older_than=timedelta(0)) == 1
    attempt.refresh_from_db()
    assert attempt.status == "succeeded"
    assert attempt.repayment.status == RepaymentStatus.SUCCEEDED
    assert due_today_plan.installments.get(sequence=1).status == "paid"
    assert Notification.objects.filter(template_code="autodebit_succeeded").count() == 1
    run.refresh_from_db()  # the run's counts hear of it too
    assert (run.attempts, run.succeeded, run.failed, run.amount_charged) == (1, 1, 0, D("106.00"))
    assert list(ledger_breaches()) == []


def test_reconciled_hard_decline_stops_retries_and_switches_auto_debit_off(
    customer, bind, flat_product, today, settings
) -> None:
    declining = bind(customer, number="6222020000000007")
    plan = _plan(customer, flat_product, today - timedelta(days=31), "DECLINE-LATE")
    Installment.objects.filter(plan=plan, sequence=1).update(due_date=today)
    autodebit_set(customer=customer, plan=plan, enabled=True, card=declining)
    settings.GATEWAY_SIM_TIMEOUT_RATE = 1.0
    run = debit_run_inline(business_date=today, slot=1)
    settings.GATEWAY_SIM_TIMEOUT_RATE = 0.0
    assert repayments_reconcile(older_than=timedelta(0)) == 1
    run.refresh_from_db()
    assert (run.succeeded, run.failed, run.failures_by_reason) == (0, 1, {"declined": 1})
    attempt = DebitAttempt.objects.get()
    assert (attempt.status, attempt.failure_code) == ("failed", "declined")
    assert not AutoDebitMandate.objects.get(plan=plan).enabled
    assert Notification.objects.filter(template_code="autodebit_failed").count() == 1
    assert Notification.objects.filter(template_code="autodebit_disabled").count() == 1
    debit_run_inline(business_date=today, slot=2)
    assert DebitAttempt.objects.count() == 1


def test_a_debit_reversed_today_is_not_taken_again_today(
    customer, card, due_today_plan, today, agent
) -> None:
    """Slot 1 debits the installment; staff reverse it (the customer disputed it); slot 2 the same day must
    not take the money again (the next day's grace retry may, by the product's policy)."""
    first = debit_run_inline(business_date=today, slot=1)
    assert first.succeeded == 1
    repayment = Repayment.objects.get(channel="auto_debit", status=RepaymentStatus.SUCCEEDED)
    repayment_reverse(staff=agent, repayment=repayment, reason="customer disputed the debit")
    second = debit_run_inline(business_date=today, slot=2)
    assert second.attempts == 0
    assert Repayment.objects.filter(channel="auto_debit", status=RepaymentStatus.SUCCEEDED).count() == 0
    assert DebitAttempt.objects.filter(status="succeeded").count() == 1


# --- 暂停计息: auto-debit pauses on a frozen plan unless the customer opted in ---------------------------


@pytest.mark.parametrize("opt_in", [False, True])
def test_a_frozen_plan_is_debited_only_if_the_customer_opted_in(
    customer, card, due_today_plan, today, opt_in
) -> None:
    plan_freeze_start(
        plan=due_today_plan, reason=FreezeReason.NEGOTIATION, today=today, autodebit_opt_in=opt_in
    )
    run = debit_run_inline(business_date=today, slot=1)
    assert run.attempts == (1 if opt_in else 0)
    assert DebitAttempt.objects.filter(plan=due_today_plan).count() == (1 if opt_in else 0)
    if not opt_in:
        # Ended: the next slot debits again.
        plan_freeze_end(plan=due_today_plan, end_reason="staff", today=today)
        assert debit_run_inline(business_date=today, slot=2).attempts == 1


def test_a_frozen_plan_without_opt_in_gets_the_plain_due_reminder(
    customer, flat_product, card, today
) -> None:
    plan = _plan(customer, flat_product, purchase_due_on(today + timedelta(days=3)), "DUE-IN-3")
    first_due_on(plan, today + timedelta(days=3))
    autodebit_set(customer=customer, plan=plan, enabled=True)
    plan_freeze_start(plan=plan, reason=FreezeReason.NEGOTIATION, today=today)
    reminders_send(business_date=today)
    codes = set(Notification.objects.filter(user=customer).values_list("template_code", flat=True))
    assert "due_reminder" in codes
    assert "autodebit_scheduled" not in codes  # "we will debit card ..." would be untrue
