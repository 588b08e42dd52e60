"""Bank cards, repayments and how each repayment is split over installments (冲账).

A card is kept as the gateway's token, the bank, the type and the last four digits: never the number or
the CVV. A repayment is recorded before the gateway is called (pending, with its idempotency key), so no
charge can happen without a row; its allocations say exactly which installment component each fen paid.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.ids import new_public_id
from core.money import format_yuan
from installments.models import Installment, InstallmentPlan, money_field
from repayments.banks import card_label
from repayments.labels import event_kind_label, failure_reason, webhook_kind_label


class CardType(models.TextChoices):
    DEBIT = "debit", _("debit card")
    CREDIT = "credit", _("credit card")


class CardStatus(models.TextChoices):
    ACTIVE = "active", _("active")
    REMOVED = "removed", _("removed")
    BLOCKED = "blocked", _("blocked (hard decline)")


class BankCard(models.Model):
    public_id = models.UUIDField(_("reference number"), default=new_public_id, unique=True, editable=False)
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="bank_cards",
        verbose_name=_("customer"),
    )
    gateway_token = models.CharField(_("gateway token"), max_length=64, unique=True)
    # A keyed hash of the number: finds the same card bound twice without keeping the number.
    fingerprint = models.CharField(_("fingerprint"), max_length=64)
    bank_code = models.CharField(_("bank code"), max_length=16)
    bank_name = models.CharField(_("bank"), max_length=40)
    card_type = models.CharField(_("card type"), max_length=8, choices=CardType.choices)
    last4 = models.CharField(_("last four digits"), max_length=4)
    reserved_phone_masked = models.CharField(_("reserved phone"), max_length=20, blank=True)
    is_default = models.BooleanField(_("default card"), default=False)
    status = models.CharField(
        _("status"), max_length=8, choices=CardStatus.choices, default=CardStatus.ACTIVE
    )
    bound_at = models.DateTimeField(_("bound at"), auto_now_add=True)
    removed_at = models.DateTimeField(_("removed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("bank card")
        verbose_name_plural = _("bank cards")
        ordering = ("-is_default", "-bound_at", "-id")
        constraints = [
            models.CheckConstraint(condition=Q(last4__regex=r"^[0-9]{4}$"), name="card_last4_digits"),
            models.UniqueConstraint(
                fields=["customer"],
                condition=Q(is_default=True, status="active"),
                name="card_one_default_per_customer",
            ),
            models.UniqueConstraint(
                fields=["customer", "fingerprint"],
                condition=Q(status="active"),
                name="card_bound_once_per_customer",
            ),
            models.CheckConstraint(
                condition=Q(is_default=False) | Q(status="active"), name="card_default_is_active"
            ),
        ]

    def __str__(self) -> str:
        return card_label(code=self.bank_code, name=self.bank_name, last4=self.last4)

    @property
    def display_name(self) -> str:
        return str(self)


class RepaymentChannel(models.TextChoices):
    WEB = "web", _("web")
    API = "api", _("mobile app (API)")
    STAFF = "staff", _("support staff")
    AUTO_DEBIT = "auto_debit", _("auto-debit")


class RepaymentMode(models.TextChoices):
    DUE_NOW = "due_now", _("amount due now")
    PAYOFF = "payoff", _("full payoff")
    CUSTOM = "custom", _("custom amount")


class RepaymentStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("scheduled")
    PENDING = "pending", _("pending")
    SUCCEEDED = "succeeded", _("succeeded")
    FAILED = "failed", _("failed")
    CANCELLED = "cancelled", _("cancelled")
    REVERSED = "reversed", _("reversed")


class Repayment(models.Model):
    """还款: money asked for or received for one plan, through one channel, under one idempotency key."""

    public_id = models.UUIDField(_("reference number"), default=new_public_id, unique=True, editable=False)
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="repayments",
        verbose_name=_("customer"),
        db_index=False,  # repayment_unique_idempotency_key (customer, idempotency_key) serves it
    )
    plan = models.ForeignKey(
        InstallmentPlan,
        on_delete=models.PROTECT,
        related_name="repayments",
        verbose_name=_("plan"),
        db_index=False,  # repayment_plan_recent (plan, -requested_at) serves it
    )
    amount = money_field(_("amount"), default=None)
    mode = models.CharField(_("mode"), max_length=8, choices=RepaymentMode.choices)
    channel = models.CharField(_("channel"), max_length=12, choices=RepaymentChannel.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=RepaymentStatus.choices, default=RepaymentStatus.PENDING
    )
    card = models.ForeignKey(
        BankCard,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="repayments",
        verbose_name=_("bound card"),
    )
    # A card used once: the gateway's single-use token and what may be shown of it; never the number.
    one_time_card_token = models.CharField(_("one-time card token"), max_length=64, blank=True)
    one_time_card_last4 = models.CharField(_("one-time card last four"), max_length=4, blank=True)
    one_time_card_bank = models.CharField(_("one-time card bank"), max_length=40, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=100)
    request_fingerprint = models.CharField(_("request fingerprint"), max_length=64, blank=True)
    scheduled_for = models.DateField(_("scheduled for"), null=True, blank=True)
    gateway_reference = models.CharField(_("gateway reference"), max_length=64, blank=True)
    failure_code = models.CharField(_("failure code"), max_length=40, blank=True)
    failure_message = models.CharField(_("failure message"), max_length=255, blank=True)
    note = models.CharField(_("note"), max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recorded by (staff)"),
    )
    requested_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    # Stamped immediately before each gateway call (never when a batch is claimed). Until
    # ``charge_lease_until`` a caller may still be calling the gateway with this repayment's key, so
    # reconciliation may not decide "never charged"; the caller moves it back to now once its call is over.
    charge_attempted_at = models.DateTimeField(_("charge attempted at"), null=True, blank=True)
    charge_lease_until = models.DateTimeField(_("charge lease until"), null=True, blank=True)
    settled_at = models.DateTimeField(_("settled at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("repayment")
        verbose_name_plural = _("repayments")
        ordering = ("-requested_at", "-id")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="repayment_amount_gt_0"),
            models.UniqueConstraint(
                fields=["customer", "idempotency_key"], name="repayment_unique_idempotency_key"
            ),
            models.CheckConstraint(
                condition=~Q(status="succeeded") | (Q(settled_at__isnull=False) & ~Q(gateway_reference="")),
                name="repayment_succeeded_is_settled",
            ),
            models.CheckConstraint(
                condition=~Q(status="scheduled") | Q(scheduled_for__isnull=False),
                name="repayment_scheduled_has_date",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "scheduled_for"], name="repayment_status_scheduled"),
            models.Index(fields=["status", "charge_attempted_at"], name="repayment_status_attempted"),
            models.Index(fields=["plan", "-requested_at"], name="repayment_plan_recent"),
            # Payments reconciliation gave up on ("the bank never saw it"), looked at again for a day.
            models.Index(
                fields=["charge_attempted_at"],
                condition=Q(failure_code="not_charged"),
                name="repayment_not_charged",
            ),
        ]

    def __str__(self) -> str:
        return f"{format_yuan(self.amount)} {self.get_status_display()} ({self.public_id})"

    @property
    def failure_reason(self) -> str:
        """Why it failed, in the active language: the code's words (``repayments.labels``); the bank's own
        text stays in ``failure_message`` for staff."""
        return failure_reason(self.failure_code)

    @property
    def card_display(self) -> str:
        if self.card_id:
            return str(self.card)
        if self.one_time_card_last4:
            return card_label(name=self.one_time_card_bank, last4=self.one_time_card_last4)
        return ""


class Component(models.TextChoices):
    PENALTY = "penalty", _("penalty")
    FEE = "fee", _("fee")
    PRINCIPAL = "principal", _("principal")


class Allocation(models.Model):
    """冲账: the part of one repayment that paid one component of one installment."""

    repayment = models.ForeignKey(
        Repayment, on_delete=models.PROTECT, related_name="allocations", verbose_name=_("repayment")
    )
    installment = models.ForeignKey(
        Installment, on_delete=models.PROTECT, related_name="allocations", verbose_name=_("installment")
    )
    component = models.CharField(_("component"), max_length=10, choices=Component.choices)
    amount = money_field(_("amount"), default=None)
    # A waiver the payment earned (a prepaid period's fee under the waive policy), not money received.
    waived = models.BooleanField(_("waived"), default=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("allocation")
        verbose_name_plural = _("allocations")
        ordering = ("repayment_id", "installment_id", "id")
        constraints = [
            # A reversal leaves the rows as history; the repayment's status says they no longer count.
            models.CheckConstraint(condition=Q(amount__gt=0), name="allocation_amount_gt_0"),
        ]

    def __str__(self) -> str:
        return f"{format_yuan(self.amount)} -> {self.installment_id} {self.get_component_display()}"


class AutoDebitMandate(models.Model):
    """设置自动扣款: whether a plan is charged to a card on its due dates, and which card."""

    plan = models.OneToOneField(
        InstallmentPlan, on_delete=models.PROTECT, related_name="autodebit", verbose_name=_("plan")
    )
    card = models.ForeignKey(
        BankCard, on_delete=models.PROTECT, related_name="mandates", verbose_name=_("card")
    )
    enabled = models.BooleanField(_("auto-debit on"), default=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("auto-debit setting")
        verbose_name_plural = _("auto-debit settings")
        permissions = [("switch_autodebit", _("Can switch a customer's auto-debit at their request"))]

    def __str__(self) -> str:
        return f"{self.plan_id} -> {self.card} ({'on' if self.enabled else 'off'})"


class DebitRunStatus(models.TextChoices):
    RUNNING = "running", _("running")
    FINISHED = "finished", _("finished")


class DebitRun(models.Model):
    """One auto-debit slot of one business date: its chunks, progress and outcome counts."""

    business_date = models.DateField(_("business date"))
    slot = models.PositiveSmallIntegerField(
        _("slot"), help_text=_("1 = the day's first debit time, and so on.")
    )
    status = models.CharField(
        _("status"), max_length=10, choices=DebitRunStatus.choices, default=DebitRunStatus.RUNNING
    )
    chunks_total = models.PositiveIntegerField(_("chunks"), default=0)
    chunks_done = models.PositiveIntegerField(_("chunks done"), default=0)
    attempts = models.PositiveIntegerField(_("debits attempted"), default=0)
    succeeded = models.PositiveIntegerField(_("succeeded"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    amount_charged = money_field(_("amount charged"))
    failures_by_reason = models.JSONField(_("failures by reason"), default=dict, blank=True)
    # What the bank-versus-book check found after the run (the daily run writes it; empty = clean).
    ledger_breaches = models.JSONField(_("ledger breaches"), default=list, blank=True)
    ledger_checked_at = models.DateTimeField(_("ledger checked at"), null=True, blank=True)
    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("auto-debit run")
        verbose_name_plural = _("auto-debit runs")
        ordering = ("-business_date", "-slot")
        constraints = [
            models.UniqueConstraint(fields=["business_date", "slot"], name="debitrun_unique_date_slot")
        ]

    def __str__(self) -> str:
        return f"{self.business_date} slot {self.slot}"


class DebitChunk(models.Model):
    """One id range of a run's plans. Done once: the run counts a chunk when its ``done_at`` is first set,
    so a redelivered chunk or a second worker on it never counts twice, and a run re-planned later adds
    chunks instead of overwriting the total."""

    run = models.ForeignKey(DebitRun, on_delete=models.PROTECT, related_name="chunks", db_index=False)
    first_plan_id = models.BigIntegerField()
    last_plan_id = models.BigIntegerField()
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("auto-debit chunk")
        verbose_name_plural = _("auto-debit chunks")
        constraints = [
            models.UniqueConstraint(
                fields=["run", "first_plan_id", "last_plan_id"], name="debitchunk_unique_range"
            )
        ]

    def __str__(self) -> str:
        return f"{self.run_id}: {self.first_plan_id}-{self.last_plan_id}"


class DebitAttemptStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    SUCCEEDED = "succeeded", _("succeeded")
    FAILED = "failed", _("failed")


class DebitAttempt(models.Model):
    """One charge of one plan's card for its oldest due installment, at one slot of one date.

    Unique on (installment, date, attempt number): a redelivered chunk finds its attempts already there.
    """

    # run and installment lead the composite indexes below, which serve their lookups: one index fewer
    # each to write for every debit.
    run = models.ForeignKey(
        DebitRun,
        on_delete=models.PROTECT,
        related_name="debit_attempts",
        db_index=False,
        verbose_name=_("run"),
    )
    plan = models.ForeignKey(
        InstallmentPlan, on_delete=models.PROTECT, related_name="debit_attempts", verbose_name=_("plan")
    )
    installment = models.ForeignKey(
        Installment,
        on_delete=models.PROTECT,
        related_name="debit_attempts",
        db_index=False,
        verbose_name=_("installment"),
    )
    business_date = models.DateField(_("business date"))
    attempt_number = models.PositiveSmallIntegerField(_("attempt"))
    card = models.ForeignKey(
        BankCard, on_delete=models.PROTECT, related_name="debit_attempts", verbose_name=_("card")
    )
    amount = money_field(_("amount"), default=None)
    repayment = models.OneToOneField(
        Repayment, on_delete=models.PROTECT, related_name="debit_attempt", verbose_name=_("repayment")
    )
    status = models.CharField(
        _("status"), max_length=10, choices=DebitAttemptStatus.choices, default=DebitAttemptStatus.PENDING
    )
    failure_code = models.CharField(_("failure code"), max_length=40, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("auto-debit attempt")
        verbose_name_plural = _("auto-debit attempts")
        ordering = ("-created_at", "-id")
        constraints = [
            # An attempt the bank never received (``not_charged``: its worker died before the call) does not
            # use up its slot: running the slot again records it anew.
            models.UniqueConstraint(
                fields=["installment", "business_date", "attempt_number"],
                condition=~Q(failure_code="not_charged"),
                name="debitattempt_unique",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="debitattempt_amount_gt_0"),
        ]
        # A chunk finds its attempts by run and plan range. Not by status: every attempt is pending once, so
        # an index on it kept a run's settled attempts' entries until vacuum and each chunk scanned them
        # all (610 ms per chunk at the end of a 1 M run); with no index on status, settling is HOT too.
        indexes = [models.Index(fields=["run", "plan"], name="debitattempt_run_plan")]

    def __str__(self) -> str:
        return f"{self.installment_id} {self.business_date} #{self.attempt_number} {self.status}"


class RepaymentEvent(models.Model):
    """Audit trail of what happened to a repayment and who did it (staff actions carry a reason)."""

    repayment = models.ForeignKey(
        Repayment, on_delete=models.PROTECT, related_name="events", verbose_name=_("repayment")
    )
    kind = models.CharField(_("what happened"), max_length=32)  # words: repayments.labels.EVENT_KINDS
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("done by"),
    )
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    data = models.JSONField(_("details"), default=dict, blank=True)
    created_at = models.DateTimeField(_("when"), auto_now_add=True)

    class Meta:
        verbose_name = _("repayment event")
        verbose_name_plural = _("repayment events")
        ordering = ("created_at", "id")
        # Reconciliation looks every minute for refunds we owe and have not paid; partial indexes keep that
        # to the few rows concerned instead of a scan of every event ever written.
        indexes = [
            models.Index(fields=["repayment"], condition=Q(kind="excess_owed"), name="repaymentevent_owed"),
            models.Index(
                fields=["repayment"], condition=Q(kind="excess_refunded"), name="repaymentevent_refunded"
            ),
        ]

    def __str__(self) -> str:
        return event_kind_label(self.kind)


# --- T+1 reconciliation: the bank's settlement file against our books --------------------------------


class SettlementFile(models.Model):
    """The bank's settlement file of one business date, kept as it came (``raw``) with its totals: the
    evidence a reconciliation's breaks are read against. Fetched again, it is replaced."""

    business_date = models.DateField(_("business date"), unique=True)
    fetched_at = models.DateTimeField(_("fetched at"))
    line_count = models.PositiveIntegerField(_("lines"), default=0)
    charged_total = money_field(_("charged"))
    refunded_total = money_field(_("refunded"))
    fee_total = money_field(_("fees"))
    matched_count = models.PositiveIntegerField(_("matched lines"), default=0)
    raw = models.TextField(_("file"), blank=True)

    class Meta:
        verbose_name = _("settlement file")
        verbose_name_plural = _("settlement files")
        ordering = ("-business_date",)

    def __str__(self) -> str:
        return f"settlement {self.business_date}"


class BreakKind(models.TextChoices):
    BANK_ONLY = "bank_only", _("at the bank only")
    BOOK_ONLY = "book_only", _("in our books only")
    AMOUNT_MISMATCH = "amount_mismatch", _("amount differs")
    STATUS_MISMATCH = "status_mismatch", _("status differs")
    JOURNAL_MISMATCH = "journal_mismatch", _("journal differs")
    REFUND_MISMATCH = "refund_mismatch", _("refund differs")


class BreakSeverity(models.TextChoices):
    CRITICAL = "critical", _("critical")
    WARNING = "warning", _("warning")


class BreakState(models.TextChoices):
    OPEN = "open", _("open")
    RESOLVED = "resolved", _("resolved")


class ReconciliationBreak(models.Model):
    """One difference between the bank's settlement file and our repayments on a business date. Written
    by the reconciliation (open), closed by staff with a reason (``reconciliation_break_resolve``)."""

    business_date = models.DateField(_("business date"))
    kind = models.CharField(_("kind"), max_length=20, choices=BreakKind.choices)
    severity = models.CharField(_("severity"), max_length=10, choices=BreakSeverity.choices)
    gateway_key = models.CharField(_("gateway key"), max_length=100)
    bank_reference = models.CharField(_("bank reference"), max_length=64, blank=True)
    bank_amount = money_field(_("bank amount"), null=True, blank=True, default=None)
    book_amount = money_field(_("book amount"), null=True, blank=True, default=None)
    repayment = models.ForeignKey(
        Repayment,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reconciliation_breaks",
        verbose_name=_("repayment"),
    )
    note = models.CharField(_("note"), max_length=255, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=BreakState.choices, default=BreakState.OPEN)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("resolved by"),
    )
    resolution = models.CharField(_("resolution"), max_length=255, blank=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    created_at = models.DateTimeField(_("found at"), auto_now_add=True)

    class Meta:
        verbose_name = _("reconciliation break")
        verbose_name_plural = _("reconciliation breaks")
        ordering = ("-business_date", "-id")
        indexes = [models.Index(fields=["business_date", "state"], name="reconbreak_date_state")]
        constraints = [
            models.CheckConstraint(
                condition=Q(state="open") | (Q(resolved_at__isnull=False) & ~Q(resolution="")),
                name="reconbreak_resolved_has_reason",
            )
        ]

    def __str__(self) -> str:
        return f"{self.business_date} {self.get_kind_display()} {self.gateway_key}"


class BankWebhookEvent(models.Model):
    """A bank notification we have acted on, by the bank's event id: written in the same transaction as
    the settle it caused, so an event replayed (by an attacker inside the signature window, or by the bank
    retrying after our answer was lost) is never acted on twice."""

    event_id = models.CharField(_("event id"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=40)
    idempotency_key = models.CharField(_("gateway key"), max_length=100)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)

    class Meta:
        verbose_name = _("bank webhook event")
        verbose_name_plural = _("bank webhook events")
        ordering = ("-received_at", "-id")
        # The daily prune (bank_webhook_events_prune) and the admin's newest-first list read by time.
        indexes = [models.Index(fields=["received_at"], name="bankwebhook_received")]

    def __str__(self) -> str:
        return f"{webhook_kind_label(self.kind)} {self.event_id}"


# 投诉 (complaints): their own module, registered with this app's models here.
from repayments.complaints import (  # noqa: E402, F401
    CLOSED_COMPLAINT_STATES,
    MAX_COMPLAINT_EXTENSIONS,
    OPEN_COMPLAINT_STATES,
    Complaint,
    ComplaintCategory,
    ComplaintChannel,
    ComplaintDocument,
    ComplaintEvent,
    ComplaintState,
)
