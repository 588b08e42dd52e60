"""The trial balance of the journal at a date (finance's daily check), as a table or CSV."""

import csv
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from installments.models import InstallmentPlan
from installments.selectors import trial_balance


class Command(BaseCommand):
    help = (
        "Print every account's debits, credits and balance for business dates up to --date (today by "
        "default), for the whole book or one plan; exit 1 if debits and credits differ."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--date", type=date.fromisoformat, help="the business date, YYYY-MM-DD")
        parser.add_argument("--plan", help="one plan, by its public id")
        parser.add_argument("--csv", action="store_true", help="write CSV instead of a table")

    def handle(self, *args: Any, **options: Any) -> None:
        day = options["date"] or timezone.localdate()
        plan_id = None
        if options["plan"]:
            try:
                plan_id = InstallmentPlan.objects.get(public_id=options["plan"]).pk
            except (InstallmentPlan.DoesNotExist, ValueError, ValidationError) as exc:
                raise CommandError(f"no plan {options['plan']!r}: {exc}", returncode=2) from None
        tb = trial_balance(as_of=day, plan_id=plan_id)
        if options["csv"]:
            writer = csv.writer(self.stdout)
            writer.writerow(["account", "name", "type", "debit", "credit", "balance"])
            for row in tb.rows:
                writer.writerow([row.account, row.name, row.type, row.debit, row.credit, row.balance])
            writer.writerow(["", "total", "", tb.debit, tb.credit, tb.debit - tb.credit])
        else:
            self.stdout.write(f"Trial balance at {day}")
            self.stdout.write(f"{'account':<8}{'name':<34}{'debit':>18}{'credit':>18}{'balance':>18}")
            for row in tb.rows:
                self.stdout.write(
                    f"{row.account:<8}{row.name:<34}{row.debit:>18,.2f}{row.credit:>18,.2f}{row.balance:>18,.2f}"
                )
            self.stdout.write(f"{'':<8}{'total':<34}{tb.debit:>18,.2f}{tb.credit:>18,.2f}")
        if not tb.balanced:
            raise CommandError(f"{day}: debits {tb.debit} != credits {tb.credit}", returncode=1)
