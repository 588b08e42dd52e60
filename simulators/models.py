"""The simulators' own books: what a bank and an SMS provider would keep on their side, not our ledger.

The tables were created by the repayments and notifications apps and keep their names (``db_table``): the
models moved here by state alone (simulators/migrations/0001_initial.py), so no existing row moved or was
lost. Domain code never reads them; check_ledger reaches the bank's charges through the gateway contract
(``repayments.gateway.ChargeBook``).
"""

from decimal import Decimal

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from installments.models import money_field


class SimulatedCardAccount(models.Model):
    """A card at the simulated bank: its balance, and how it behaves (``MAGIC_BEHAVIOURS`` in bank.py)."""

    token = models.CharField(max_length=64, unique=True)
    fingerprint = models.CharField(max_length=64, db_index=True)
    last4 = models.CharField(max_length=4)
    bank_code = models.CharField(max_length=16)
    card_type = models.CharField(max_length=8)
    behaviour = models.CharField(max_length=24, default="normal")
    balance = money_field("balance", default=Decimal("0.00"))
    single_use = models.BooleanField(default=False)
    closed = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "repayments_simulatedcardaccount"
        constraints = [models.CheckConstraint(condition=Q(balance__gte=0), name="simcard_balance_gte_0")]

    def __str__(self) -> str:
        return f"sim card {self.last4}"


class SimulatedCharge(models.Model):
    """A charge, or a refund (status ``refund``), as the simulated bank recorded it."""

    idempotency_key = models.CharField(max_length=100)
    reference = models.CharField(max_length=64)
    token = models.CharField(max_length=64)
    amount = money_field("amount", default=None)
    status = models.CharField(max_length=24)
    refunded = money_field("refunded")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "repayments_simulatedcharge"
        # Unique constraints, not unique=True: no LIKE-only second index to write for every charge.
        constraints = [
            models.UniqueConstraint(fields=["idempotency_key"], name="simcharge_unique_idempotency_key"),
            models.UniqueConstraint(fields=["reference"], name="simcharge_unique_reference"),
            models.CheckConstraint(
                condition=Q(refunded__lte=F("amount")), name="simcharge_refund_lte_amount"
            ),
            models.CheckConstraint(condition=Q(refunded__gte=0), name="simcharge_refunded_gte_0"),
        ]

    def __str__(self) -> str:
        return f"sim charge {self.reference} {self.status}"


class SimulatedSms(models.Model):
    """What the simulated SMS gateway accepted: the provider's side, kept apart from our outbox."""

    provider_message_id = models.CharField(max_length=100, unique=True)
    phone = models.CharField(max_length=32)
    text = models.TextField()
    client_reference = models.CharField(max_length=100, blank=True)
    accepted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "notifications_simulatedsms"
        verbose_name = _("simulated SMS")
        verbose_name_plural = _("simulated SMS")
        ordering = ("-accepted_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=["client_reference"],
                condition=~Q(client_reference=""),
                name="simulated_sms_unique_client_reference",
            )
        ]

    def __str__(self) -> str:
        return self.provider_message_id
