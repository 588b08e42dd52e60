"""The loan agreement (借款协议) a customer accepted, stored with the plan, and the one-year Loan Prime Rate
(LPR) staff keep current for products whose cost ceiling follows 4 x LPR (README "Fair cost")."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.money_input import AsciiDecimalModelField
from installments.models.plans import InstallmentPlan


class PlanAgreement(models.Model):
    """借款协议: the text the customer accepted, written in the plan's creation transaction from the
    versioned template ``templates/installments/agreement/<version>.<language>.txt``. Never edited: the
    hash of the text is kept beside it so any later change shows."""

    plan = models.OneToOneField(
        InstallmentPlan, on_delete=models.PROTECT, related_name="agreement", verbose_name=_("plan")
    )
    version = models.CharField(_("version"), max_length=16)
    language = models.CharField(_("language"), max_length=8)
    text = models.TextField(_("text as accepted"))
    text_sha256 = models.CharField(_("text hash (SHA-256)"), max_length=64)
    accepted_at = models.DateTimeField(_("accepted at"))

    class Meta:
        verbose_name = _("loan agreement")
        verbose_name_plural = _("loan agreements")
        ordering = ("-accepted_at", "-id")

    def __str__(self) -> str:
        return f"{self.version} ({self.language})"


class LoanPrimeRate(models.Model):
    """The one-year LPR (贷款市场报价利率) from its effective date until the next row's: a product with
    ``ceiling_follows_lpr`` freezes the lower of its own ceiling and 4 x this rate onto new plans."""

    effective_on = models.DateField(_("effective on"), unique=True)
    one_year_percent = AsciiDecimalModelField(_("one-year LPR (%)"), max_digits=5, decimal_places=2)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("entered by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("loan prime rate (LPR)")
        verbose_name_plural = _("loan prime rates (LPR)")
        ordering = ("-effective_on",)
        constraints = [
            models.CheckConstraint(
                condition=Q(one_year_percent__gt=0) & Q(one_year_percent__lt=100), name="lpr_percent_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.effective_on}: {self.one_year_percent}%"
