"""The journal (会计分录): every money movement as balanced debit and credit lines, posted with the event.

The installments' columns are the sub-ledger (what each customer owes, component by component); the
journal is the general ledger finance reads. They are written in the same transaction by the plan ledger
(``installments/ledger.py``) and the journal module (``installments/journal.py``), and ``check_ledger``
proves every day that they agree: each entry balances, the trial balance is zero, and each receivable
account equals the installments' open amounts, plan by plan.

Lines are never edited or deleted (a PostgreSQL trigger refuses it): a mistake is corrected by the exact
opposite entry. On PostgreSQL a statement-level trigger also refuses any INSERT that leaves an entry
unbalanced; it checks once per statement, not once per line, so a debit chunk's thousand lines cost one
aggregate, which is why the journal writes an entry's lines in one statement.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.money import format_yuan
from installments.models.plans import InstallmentPlan, money_field


class AccountType(models.TextChoices):
    ASSET = "asset", _("asset")
    LIABILITY = "liability", _("liability")
    EQUITY = "equity", _("equity")
    INCOME = "income", _("income")
    EXPENSE = "expense", _("expense")


class Account(models.TextChoices):
    """The chart of accounts, kept in code: a code finance can sort by, and a name."""

    CASH = "1000", _("Cash at bank")
    BANK_CLEARING = "1010", _("Bank clearing")
    PRINCIPAL_RECEIVABLE = "1100", _("Loans receivable - principal")
    FEE_RECEIVABLE = "1110", _("Loans receivable - fee")
    PENALTY_RECEIVABLE = "1120", _("Loans receivable - penalty")
    MERCHANT_PAYABLE = "2000", _("Merchant payable")
    REFUNDS_PAYABLE = "2010", _("Customer refunds payable")
    UNEARNED_FEES = "2100", _("Unearned fee income")
    OPENING_BALANCES = "3000", _("Opening balances")
    FEE_INCOME = "4000", _("Fee income")
    PENALTY_INCOME = "4010", _("Penalty income")
    RECOVERIES_INCOME = "4020", _("Recoveries income")
    WAIVERS = "5000", _("Waivers")
    WRITE_OFF = "5010", _("Write-off expense")
    BANK_FEES = "5020", _("Bank fees")


@dataclass(frozen=True)
class AccountInfo:
    type: str
    # Asset and expense balances are debit - credit; the others credit - debit (shown positive).
    debit_normal: bool


ACCOUNT_TYPES: dict[str, AccountInfo] = {
    Account.CASH: AccountInfo(AccountType.ASSET, True),
    Account.BANK_CLEARING: AccountInfo(AccountType.ASSET, True),
    Account.PRINCIPAL_RECEIVABLE: AccountInfo(AccountType.ASSET, True),
    Account.FEE_RECEIVABLE: AccountInfo(AccountType.ASSET, True),
    Account.PENALTY_RECEIVABLE: AccountInfo(AccountType.ASSET, True),
    Account.MERCHANT_PAYABLE: AccountInfo(AccountType.LIABILITY, False),
    Account.REFUNDS_PAYABLE: AccountInfo(AccountType.LIABILITY, False),
    Account.UNEARNED_FEES: AccountInfo(AccountType.LIABILITY, False),
    Account.OPENING_BALANCES: AccountInfo(AccountType.EQUITY, False),
    Account.FEE_INCOME: AccountInfo(AccountType.INCOME, False),
    Account.PENALTY_INCOME: AccountInfo(AccountType.INCOME, False),
    Account.RECOVERIES_INCOME: AccountInfo(AccountType.INCOME, False),
    Account.WAIVERS: AccountInfo(AccountType.EXPENSE, True),
    Account.WRITE_OFF: AccountInfo(AccountType.EXPENSE, True),
    Account.BANK_FEES: AccountInfo(AccountType.EXPENSE, True),
}

# The receivable account of each installment component (the sub-ledger's columns).
RECEIVABLE: dict[str, str] = {
    "principal": Account.PRINCIPAL_RECEIVABLE,
    "fee": Account.FEE_RECEIVABLE,
    "penalty": Account.PENALTY_RECEIVABLE,
}


class EntryKind(models.TextChoices):
    OPENING = "opening", _("opening balances")
    PLAN_CREATED = "plan_created", _("plan created")
    FEE_BILLED = "fee_billed", _("fee billed")
    PENALTY_ACCRUED = "penalty_accrued", _("penalty accrued")
    REPAYMENT = "repayment", _("repayment applied")
    REPAYMENT_REVERSED = "repayment_reversed", _("repayment reversed")
    EXCESS_REFUNDED = "excess_refunded", _("excess refunded")
    RESTAGED = "restaged", _("re-staged")
    SETTLED = "settled", _("settled by the bank")
    CHARGED_OFF = "charged_off", _("charged off")
    CHARGE_OFF_UNDONE = "charge_off_undone", _("charge-off undone")
    WAIVED = "waived", _("waived by staff")
    # Due dates moved (延期, a payment holiday), with any fee that adds.
    RESCHEDULED = "rescheduled", _("due dates moved")


class JournalEntry(models.Model):
    """One money event: its lines balance. ``key`` makes posting the same event twice impossible."""

    id = models.BigAutoField(primary_key=True)
    key = models.CharField(_("idempotency key"), max_length=120, unique=True)
    kind = models.CharField(_("kind"), max_length=24, choices=EntryKind.choices)
    business_date = models.DateField(_("business date"))
    plan = models.ForeignKey(
        InstallmentPlan,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        verbose_name=_("plan"),
    )
    # What caused it, e.g. a repayment's public id or a settlement file line.
    reference = models.CharField(_("reference"), max_length=64, blank=True)
    memo = models.CharField(_("memo"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("journal entry")
        verbose_name_plural = _("journal entries")
        indexes = [
            models.Index(fields=["business_date"], name="journal_entry_date"),
            models.Index(fields=["plan"], name="journal_entry_plan"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.key}"


class JournalLine(models.Model):
    """A debit or a credit to one account; plan, customer and date are copied here for the statements."""

    id = models.BigAutoField(primary_key=True)
    entry = models.ForeignKey(
        JournalEntry, on_delete=models.PROTECT, related_name="lines", verbose_name=_("entry")
    )
    account = models.CharField(_("account"), max_length=4, choices=Account.choices)
    debit = money_field(_("debit"))
    credit = money_field(_("credit"))
    plan = models.ForeignKey(
        InstallmentPlan,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        verbose_name=_("plan"),
    )
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        verbose_name=_("customer"),
    )
    business_date = models.DateField(_("business date"))

    class Meta:
        verbose_name = _("journal line")
        verbose_name_plural = _("journal lines")
        constraints = [
            models.CheckConstraint(
                condition=(Q(debit__gt=0) & Q(credit=0)) | (Q(debit=0) & Q(credit__gt=0)),
                name="journal_line_one_side",
            ),
        ]
        indexes = [
            models.Index(fields=["plan", "account"], name="journal_line_plan_account"),
            models.Index(fields=["account", "business_date"], name="journal_line_account_date"),
            models.Index(fields=["customer", "account"], name="journal_line_customer"),
        ]

    def __str__(self) -> str:
        side = f"Dr {format_yuan(self.debit)}" if self.debit else f"Cr {format_yuan(self.credit)}"
        return f"{self.get_account_display()} {side}"
