"""The contact gate: the one place that decides whether collection may call or text a customer now.

Every path that reaches out to an overdue customer asks ``contact_allowed`` first: logging a call
(``contact_log_create``), the overdue SMS of the daily run (``repayments.services.reminders``), the
payment-link SMS (``repayments.services.payment_link``) and any future dialler. The rules are the
collection rules we keep (product research, rows 20-30):

- hours: only from ``CONTACT_HOURS_START`` to ``CONTACT_HOURS_END`` local time (08:00-22:00), or inside
  the window the customer chose instead (``User.contact_window_*``; only the customer can open night hours);
- calls a day: at most ``CONTACT_DAILY_CALL_LIMIT`` connected calls (reached, or a promise to pay) per
  customer and local day, counted across all staff, so a customer is not called by agent after agent;
- parties: collection speaks to the debtor alone, never to family, colleagues or other third parties.

A refusal carries a stable code (``ContactRefusalCode``) and is stored as a ``ContactRefusal`` row, so the
admin shows what was held back and why. The gate lives in installments because the contact log does;
``repayments`` (above) calls it, ``notifications`` (below) never needs to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from core.errors import ApplicationError
from installments.errors import InstallmentsError
from installments.models import (
    ContactLog,
    ContactOutcome,
    ContactParty,
    ContactRefusal,
    ContactRefusalCode,
    GateChannel,
)
from installments.models.negotiation import ContactChannel

# The outcomes that make a call "connected" for the daily limit: someone was actually reached.
CONNECTED_OUTCOMES = (ContactOutcome.REACHED, ContactOutcome.PROMISE_TO_PAY)

_REFUSAL_ERRORS = {
    ContactRefusalCode.OUTSIDE_HOURS: InstallmentsError.CONTACT_OUTSIDE_HOURS,
    ContactRefusalCode.DAILY_LIMIT: InstallmentsError.CONTACT_DAILY_LIMIT,
    ContactRefusalCode.THIRD_PARTY: InstallmentsError.CONTACT_THIRD_PARTY,
}


def gate_channel(channel: str) -> str | None:
    """The gate's channel for a contact-log channel; ``None`` for contacts the customer started (an
    inbound hotline call, a chat): answering a customer is never held back."""
    return {ContactChannel.CALL_OUT: GateChannel.CALL, ContactChannel.SMS: GateChannel.SMS}.get(
        ContactChannel(channel)
    )


def _tz() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def _hhmm(value: str) -> time:
    hours, minutes = value.strip().split(":")
    return time(int(hours), int(minutes))


def contact_hours(customer: User) -> tuple[time, time]:
    """The customer's window (start inclusive, end exclusive, local time): their own choice, or the
    default hours."""
    if customer.contact_window_start is not None and customer.contact_window_end is not None:
        return customer.contact_window_start, customer.contact_window_end
    return _hhmm(settings.CONTACT_HOURS_START), _hhmm(settings.CONTACT_HOURS_END)


def _inside(moment: time, start: time, end: time) -> bool:
    if start < end:
        return start <= moment < end
    return moment >= start or moment < end  # a window across midnight (the customer's own choice)


def _next_opening(local: datetime, start: time) -> datetime:
    """The next time the window opens after ``local`` (which is outside it)."""
    opening = datetime.combine(local.date(), start, tzinfo=local.tzinfo)
    return opening if opening > local else opening + timedelta(days=1)


def connected_calls_on(customer: User, at: datetime) -> int:
    """Connected outbound calls of the customer on the local day of ``at``, by any staff member."""
    local = timezone.localtime(at, _tz())
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return ContactLog.objects.filter(
        customer=customer,
        channel=ContactChannel.CALL_OUT,
        outcome__in=CONNECTED_OUTCOMES,
        created_at__gte=midnight,
        created_at__lt=midnight + timedelta(days=1),
    ).count()


@dataclass(frozen=True)
class ContactDecision:
    """The gate's answer: allowed, or refused with a ``ContactRefusalCode`` (and, for the hours, when the
    customer's window next opens, so a reminder can wait for it instead of being dropped)."""

    allowed: bool
    code: str = ""
    opens_at: datetime | None = None

    def __bool__(self) -> bool:
        return self.allowed


ALLOWED = ContactDecision(True)


def contact_allowed(
    *,
    customer: User,
    channel: str,
    at: datetime | None = None,
    party: str = ContactParty.DEBTOR,
    staff: User | None = None,
    record: bool = True,
    source: str = "",
) -> ContactDecision:
    """May collection contact ``customer`` on ``channel`` (call, sms) at ``at`` (now by default)?

    A refusal is stored (``ContactRefusal``) unless ``record`` is false: a caller that only probes (the
    reminders ask whether a later time would do) records the refusal it finally acts on with
    ``contact_refusal_record``. The rules are checked third party first, then the hours, then the day's
    calls, so the refusal names the rule that can least be worked around.
    """
    at = at or timezone.now()
    GateChannel(channel)  # an unknown channel is a programming error, not a refusal
    decision = ALLOWED
    if party != ContactParty.DEBTOR:
        decision = ContactDecision(False, ContactRefusalCode.THIRD_PARTY)
    else:
        start, end = contact_hours(customer)
        local = timezone.localtime(at, _tz())
        if not _inside(local.time(), start, end):
            decision = ContactDecision(False, ContactRefusalCode.OUTSIDE_HOURS, _next_opening(local, start))
        elif (
            channel == GateChannel.CALL
            and connected_calls_on(customer, at) >= settings.CONTACT_DAILY_CALL_LIMIT
        ):
            decision = ContactDecision(False, ContactRefusalCode.DAILY_LIMIT)
    if not decision.allowed and record:
        contact_refusal_record(
            customer=customer,
            channel=channel,
            party=party,
            code=decision.code,
            staff=staff,
            at=at,
            source=source,
        )
    return decision


def contact_refusal_record(
    *,
    customer: User,
    channel: str,
    party: str,
    code: str,
    staff: User | None,
    at: datetime,
    source: str = "",
) -> ContactRefusal:
    """Store one refusal. Call it outside a transaction that the refusal then rolls back (the caller
    raising inside ``atomic`` would lose the record)."""
    return ContactRefusal.objects.create(
        customer=customer, channel=channel, party=party, code=code, staff=staff, at=at, source=source
    )


def contact_refused(customer: User, decision: ContactDecision) -> ApplicationError:
    """The refusal as staff read it: the rule in words and its code, which the form shows as is."""
    code = ContactRefusalCode(decision.code)
    if code == ContactRefusalCode.OUTSIDE_HOURS:
        start, end = contact_hours(customer)
        detail = _("this customer may be contacted from %(start)s to %(end)s (China time) only.") % {
            "start": start.strftime("%H:%M"),
            "end": end.strftime("%H:%M"),
        }
    elif code == ContactRefusalCode.DAILY_LIMIT:
        detail = _("this customer was already reached %(limit)s times today.") % {
            "limit": settings.CONTACT_DAILY_CALL_LIMIT
        }
    else:
        detail = _("collection may speak only to the customer, never to anyone else about the debt.")
    return ApplicationError(
        _REFUSAL_ERRORS[code],
        _("Refused by the contact rules (%(code)s): %(detail)s") % {"code": code.value, "detail": detail},
    )


__all__ = [
    "CONNECTED_OUTCOMES",
    "ContactDecision",
    "connected_calls_on",
    "contact_allowed",
    "contact_hours",
    "contact_refusal_record",
    "contact_refused",
    "gate_channel",
]
