"""结清证明: issue a plan's payoff certificate, and revoke it when a reversal reopens the plan.

The verification code is what a third party (a bank, a landlord) types in at ``/verify/<code>/``: random
(``secrets``), 12 characters of an alphabet without look-alikes (no 0/O, 1/I/L), about 59 bits, so guessing
one is hopeless even before the page's rate limit. The certificate number is for people to quote.
"""

from __future__ import annotations

import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import ApplicationError
from installments.errors import InstallmentsError
from installments.ledger import lock_plans
from installments.models import InstallmentPlan, PayoffCertificate, PlanStatus

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 12
REOPENED_BY_REVERSAL = "reopened by reversal"


def _random(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def payoff_certificate_issue(*, plan: InstallmentPlan) -> PayoffCertificate:
    """The plan's live certificate, issued on the first request: asking again returns the same one.

    The plan row is locked (``lock_plans``, plan only) while its status is read and the certificate
    written, the lock a reversal takes too: a certificate is never issued for a plan a reversal has just
    reopened, and a reversal never misses a certificate being issued. Two requests at once queue on the
    same lock; the second finds the first's certificate."""
    with transaction.atomic():
        locked, _rows = lock_plans([plan.pk], no_key=True, installments=False)
        live = PayoffCertificate.objects.filter(plan_id=plan.pk, revoked_at__isnull=True).first()
        if live is not None:
            return live
        if plan.pk not in locked or locked[plan.pk].status != PlanStatus.PAID_OFF:
            raise ApplicationError(
                InstallmentsError.PLAN_NOT_PAID_OFF,
                _("A payoff certificate is issued once the plan is paid off."),
            )
        today = timezone.localdate()
        for _attempt in range(5):
            try:
                with transaction.atomic():
                    return PayoffCertificate.objects.create(
                        plan_id=plan.pk, number=f"JQ-{today:%Y%m%d}-{_random(6)}", code=_random(CODE_LENGTH)
                    )
            except IntegrityError:
                continue  # a number or code drawn twice (vanishingly rare): draw again
    raise RuntimeError("could not draw a unique certificate number")


def payoff_certificates_revoke(*, plan_id: int, reason: str) -> int:
    """Revoke the plan's live certificate, in the caller's transaction (a reversal that reopened the
    plan): the public check says "revoked" from the moment the reversal commits."""
    return PayoffCertificate.objects.filter(plan_id=plan_id, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_reason=reason[:120]
    )
