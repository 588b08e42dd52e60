"""T+1 reconciliation of one business date: the bank's settlement file against our repayments."""

from datetime import date, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from repayments.gateway import GatewayError
from repayments.selectors import open_critical_breaks
from repayments.services import reconciliation_run


class Command(BaseCommand):
    help = (
        "Fetch the bank's settlement file of a date (yesterday by default), match it with our repayments "
        "and record the breaks; exit 1 while any critical break of that date is open."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--date", type=date.fromisoformat, help="the business date, YYYY-MM-DD")

    def handle(self, *args: Any, **options: Any) -> None:
        day = options["date"] or timezone.localdate() - timedelta(days=1)
        try:
            result = reconciliation_run(business_date=day)
        except GatewayError as exc:
            raise CommandError(f"{day}: no settlement file ({exc.code}): {exc}", returncode=2) from None
        self.stdout.write(
            f"{day}: {result.lines} line(s), {result.matched} matched, {result.settled_late} settled late, "
            f"{len(result.breaks)} new break(s)"
        )
        for item in result.breaks:
            self.stderr.write(f"BREAK {item.severity} {item.kind} {item.gateway_key} {item.note}")
        critical = open_critical_breaks(day)
        if critical:
            raise CommandError(f"{day}: {len(critical)} open critical break(s).", returncode=1)
        self.stdout.write(self.style.SUCCESS(f"{day}: reconciled, no open critical break."))
