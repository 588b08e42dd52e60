"""Verify every money invariant over the whole database; exit 1 listing each breach."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from repayments.ledger import ledger_breaches


class Command(BaseCommand):
    help = "Check the ledger's invariants (allocations, installments, plans, gateway charges)."

    def handle(self, *args: Any, **options: Any) -> None:
        breaches = list(ledger_breaches())
        for breach in breaches:
            self.stderr.write(f"BREACH {breach}")
        if breaches:
            raise CommandError(f"{len(breaches)} ledger breach(es) found.", returncode=1)
        self.stdout.write(self.style.SUCCESS("Ledger OK: every invariant holds."))
