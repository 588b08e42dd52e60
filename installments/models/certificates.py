"""结清证明: the payoff certificate of a plan paid off, checkable by anyone who holds its code.

The certificate says only that the plan is settled; the public check (``/verify/<code>/``) shows its
number, its issue date, whether it still stands and the customer's masked name, nothing else. A plan has
at most one live certificate; a reversal that reopens the plan revokes it in the reversal's transaction.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from installments.models.plans import InstallmentPlan


class PayoffCertificate(models.Model):
    plan = models.ForeignKey(
        InstallmentPlan,
        on_delete=models.PROTECT,
        related_name="payoff_certificates",
        verbose_name=_("plan"),
    )
    number = models.CharField(_("certificate number"), max_length=24, unique=True)
    # Random, from an alphabet without look-alike characters: what a bank or landlord types in to check.
    code = models.CharField(_("verification code"), max_length=16, unique=True)
    issued_at = models.DateTimeField(_("issued at"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_reason = models.CharField(_("revocation reason"), max_length=120, blank=True)

    class Meta:
        verbose_name = _("payoff certificate")
        verbose_name_plural = _("payoff certificates")
        constraints = [
            models.UniqueConstraint(
                fields=["plan"], condition=Q(revoked_at__isnull=True), name="payoff_certificate_one_live"
            ),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_valid(self) -> bool:
        return self.revoked_at is None
