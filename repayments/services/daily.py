"""The business day in order: what run_daily and the beat schedule both call."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from installments.services import installments_mark_overdue
from repayments.models import DebitRun
from repayments.services.autodebit import debit_run_inline, slots
from repayments.services.payments import repayments_run_scheduled
from repayments.services.reminders import reminders_send


@dataclass
class DailyReport:
    business_date: date
    marked_overdue: int = 0
    reminders: int = 0
    scheduled_payments: int = 0
    runs: list[DebitRun] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [
            f"business date {self.business_date}",
            f"  overdue sweep: {self.marked_overdue} installments became overdue",
            f"  reminders written: {self.reminders}",
            f"  scheduled payments run: {self.scheduled_payments}",
        ]
        for run in self.runs:
            out.append(
                f"  auto-debit slot {run.slot}: {run.attempts} attempts, {run.succeeded} succeeded "
                f"(¥{run.amount_charged}), {run.failed} failed {run.failures_by_reason or ''}".rstrip()
            )
        return out


def run_daily(*, business_date: date) -> DailyReport:
    report = DailyReport(business_date=business_date)
    report.marked_overdue = installments_mark_overdue(as_of=business_date)
    report.reminders = reminders_send(business_date=business_date)
    report.scheduled_payments = repayments_run_scheduled(today=business_date)
    for slot in range(1, len(slots()) + 1):
        report.runs.append(debit_run_inline(business_date=business_date, slot=slot))
    return report
