"""The business day (repayments' run_daily) drives installments' negotiation: offers past their validity
expire."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from installments.models import NegotiationState
from repayments.services import run_daily
from tests.installments.negotiation_support import apply, offered

S = NegotiationState


def test_the_daily_run_expires_offers(late_plan, agent) -> None:
    application = apply(late_plan)
    offered(application, agent)
    report = run_daily(
        business_date=timezone.localdate() + timedelta(days=settings.NEGOTIATION_OFFER_VALID_DAYS + 1)
    )
    assert report.offers_expired == 1
    assert any("offers expired: 1" in line for line in report.lines())
    application.refresh_from_db()
    assert application.state == S.EXPIRED
