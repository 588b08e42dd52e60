"""Run a whole business day in order, synchronously: sweep -> reminders -> scheduled payments -> debits.

For operators (a missed day) and demos. Every step is idempotent, so re-running a date is safe.
"""

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from repayments.services import run_daily


class Command(BaseCommand):
    help = "Run the daily schedule for one business date (default: today, Asia/Shanghai)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--date", help="business date YYYY-MM-DD (default today)")

    def handle(self, *args: Any, **options: Any) -> None:
        raw = options.get("date")
        try:
            business_date = date.fromisoformat(raw) if raw else timezone.localdate()
        except ValueError:
            raise CommandError(f"--date must be YYYY-MM-DD, not {raw!r}") from None
        report = run_daily(business_date=business_date)
        for line in report.lines():
            self.stdout.write(line)
