"""The business day in order: what run_daily and the beat schedule both call."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time

from django.utils import timezone

from installments.services import (
    ChargeOffRun,
    PromisesChecked,
    SweepResult,
    collection_cases_sync,
    freezes_expire,
    holidays_expire,
    negotiations_expire,
    overdue_sweep,
    plans_charge_off,
    promises_check,
)
from repayments.ledger import ledger_breaches
from repayments.models import DebitRun
from repayments.services.autodebit import debit_run_inline, slots
from repayments.services.payments import repayments_run_scheduled
from repayments.services.reminders import reminders_send


@dataclass
class DailyReport:
    business_date: date
    sweep: SweepResult | None = None
    charge_off: ChargeOffRun | None = None
    reminders: int = 0
    offers_expired: int = 0
    freezes_ended: int = 0
    promises: PromisesChecked = field(default_factory=PromisesChecked)
    holidays_expired: int = 0
    scheduled_payments: int = 0
    runs: list[DebitRun] = field(default_factory=list)
    breaches: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        sweep = self.sweep or SweepResult()
        charge_off = self.charge_off or ChargeOffRun()
        out = [
            f"business date {self.business_date}",
            f"  overdue sweep: {sweep.marked_overdue} became overdue, {sweep.penalties_accrued} accrued "
            f"¥{sweep.penalty_amount} in penalties, {sweep.plans_updated} plans updated, "
            f"{sweep.credit_events} credit events",
            f"  fair cost: {sweep.plans_capped} plans reached their penalty cap or cost ceiling, "
            f"{sweep.back_to_pending} installments due again within the arrears tolerance",
            f"  collection cases: {sweep.cases_opened} opened, {sweep.cases_closed} closed; {self.promises}",
            f"  charged off: {charge_off.charged_off} plans (¥{charge_off.amount}), "
            f"{charge_off.deferred} deferred (a charge in flight)",
            f"  reminders written: {self.reminders}",
            f"  negotiated-plan offers expired: {self.offers_expired}",
            f"  payment-holiday offers expired: {self.holidays_expired}",
            f"  hardship freezes ended (longest freeze reached or plan closed): {self.freezes_ended}",
            f"  scheduled payments run: {self.scheduled_payments}",
        ]
        for run in self.runs:
            out.append(
                f"  auto-debit slot {run.slot}: {run.attempts} attempts, {run.succeeded} succeeded "
                f"(¥{run.amount_charged}), {run.failed} failed {run.failures_by_reason or ''}".rstrip()
            )
        if self.breaches:
            out.append(f"  LEDGER: {len(self.breaches)} breach(es)")
            out.extend(f"    {breach}" for breach in self.breaches)
        else:
            out.append("  ledger: every invariant holds (bank = books)")
        return out


logger = logging.getLogger(__name__)


def ledger_check_daily(*, business_date: date) -> list[str]:
    """The day's closing check: ``check_ledger``'s invariants, bank versus books included. A breach is
    logged as an error (alerting reads the log) and written on the day's debit runs, where staff see it
    in the admin."""
    breaches = list(ledger_breaches())
    for breach in breaches:
        logger.error("ledger breach on %s: %s", business_date, breach)
    DebitRun.objects.filter(business_date=business_date).update(
        ledger_breaches=breaches[:200], ledger_checked_at=timezone.now()
    )
    return breaches


@dataclass(frozen=True)
class DayOpening:
    """What opening a business day did, before its first debit slot."""

    sweep: SweepResult
    reminders: int
    offers_expired: int
    charge_off: ChargeOffRun = field(default_factory=ChargeOffRun)
    promises: PromisesChecked = field(default_factory=PromisesChecked)
    holidays_expired: int = 0
    freezes_ended: int = 0

    def __str__(self) -> str:
        return (
            f"{self.sweep}, {self.charge_off}, {self.reminders} reminders, "
            f"{self.offers_expired} offers expired, {self.holidays_expired} holiday offers expired, "
            f"{self.freezes_ended} freezes ended, {self.promises}"
        )


def day_open(*, business_date: date) -> DayOpening:
    """Open a business day: the overdue sweep (with the collection cases), the charge-offs it makes due
    (核销, before the reminders so a charged-off plan gets its final notice and no reminder), the promises
    to pay now kept or broken (after the sweep, so a case the payment cured is closed first), the day's
    reminders, and the negotiated-plan and payment-holiday offers that expired before the day began (one
    statement for the holidays; a negotiated offer's freeze ends with it); first, the hardship freezes
    that reached their longest day end. One service for ``run_daily`` and the morning beat task, so both
    use the same cut-off: the start of ``business_date`` (Asia/Shanghai), not the clock, so a run for a
    given date gives the same result whenever it runs (an offer is refused by the clock once past its time
    anyway; this only records its expiry and tells the customer of a negotiated one)."""
    start_of_day = timezone.make_aware(datetime.combine(business_date, time.min))
    # Hardship freezes past FREEZE_MAX_DAYS end on their planned_end (the sweep and the reminders read the
    # frozen days by date either way; this records the end and lets a new freeze be opened).
    freezes_ended = freezes_expire(today=business_date)
    sweep = overdue_sweep(as_of=business_date)
    charged_off = plans_charge_off(business_date=business_date)
    if charged_off.charged_off:
        collection_cases_sync(as_of=business_date)  # their cases close today, not at tomorrow's sweep
    promises = promises_check(today=business_date)
    return DayOpening(
        sweep=sweep,
        charge_off=charged_off,
        promises=promises,
        reminders=reminders_send(business_date=business_date),
        offers_expired=negotiations_expire(now=start_of_day),
        holidays_expired=holidays_expire(now=start_of_day),
        freezes_ended=freezes_ended,
    )


def run_daily(*, business_date: date) -> DailyReport:
    """The whole business day in this process: open it, run scheduled payments and every debit slot,
    then the closing ledger check (``manage.py run_daily``, demos, tests)."""
    opening = day_open(business_date=business_date)
    report = DailyReport(
        business_date=business_date,
        sweep=opening.sweep,
        charge_off=opening.charge_off,
        reminders=opening.reminders,
        offers_expired=opening.offers_expired,
        freezes_ended=opening.freezes_ended,
        promises=opening.promises,
        holidays_expired=opening.holidays_expired,
    )
    report.scheduled_payments = repayments_run_scheduled(today=business_date)
    for slot in range(1, len(slots()) + 1):
        report.runs.append(debit_run_inline(business_date=business_date, slot=slot))
    report.breaches = ledger_check_daily(business_date=business_date)
    for run in report.runs:
        run.refresh_from_db()
    return report
