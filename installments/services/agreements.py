"""借款协议: the agreement a customer accepts, rendered from a versioned template and stored with the plan in
its creation transaction (``plan_create``, ``restage_locked``). The stored text is what was accepted; a
new version of the template changes only plans created after it."""

from __future__ import annotations

import hashlib
from datetime import datetime

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone, translation

from core.money import ZERO

# The module, not its function: installments.disclosure reads the cost terms from this package
# (services.costs), so whichever of the two is imported first, the other is complete when it is called.
from installments import disclosure
from installments.models import InstallmentPlan, PlanAgreement

# The version new plans accept: templates/installments/agreement/<version>.<language>.txt.
AGREEMENT_VERSION = "2026-11"
AGREEMENT_LANGUAGES = ("zh-hans", "en")


def agreement_template(version: str, language: str) -> str:
    return f"installments/agreement/{version}.{language}.txt"


def agreement_language(plan: InstallmentPlan) -> str:
    """The customer's language when the agreement has it, else the site's."""
    language = getattr(plan.customer, "language", "") or settings.LANGUAGE_CODE
    return language if language in AGREEMENT_LANGUAGES else settings.LANGUAGE_CODE


def agreement_text(plan: InstallmentPlan, *, version: str = AGREEMENT_VERSION, language: str = "") -> str:
    """The agreement of ``plan`` as the template of ``version`` words it in ``language``: principal, fee
    and APR, the schedule, and the cost of paying late with its limits (README "Fair cost")."""
    language = language or agreement_language(plan)
    product = plan.product
    installments = sorted(plan.installments.all(), key=lambda i: i.sequence)
    with translation.override(language):
        return (
            render_to_string(
                agreement_template(version, language),
                {
                    "plan": plan,
                    "product": product,
                    "installments": installments,
                    "total_repayment": sum((i.principal_due + i.fee_due for i in installments), ZERO),
                    "late_cost": disclosure.late_cost_disclosure(plan),
                    "extension_fee_percent": f"{(product.extension_fee_rate * 100).normalize():f}",
                },
            ).strip()
            + "\n"
        )


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def agreement_record(*, plan: InstallmentPlan, accepted_at: datetime | None = None) -> PlanAgreement:
    """Store the agreement ``plan``'s customer accepts, in the caller's transaction (the plan's creation):
    a plan never exists without the text it was agreed on."""
    language = agreement_language(plan)
    text = agreement_text(plan, version=AGREEMENT_VERSION, language=language)
    return PlanAgreement.objects.create(
        plan=plan,
        version=AGREEMENT_VERSION,
        language=language,
        text=text,
        text_sha256=text_hash(text),
        accepted_at=accepted_at or timezone.now(),
    )
