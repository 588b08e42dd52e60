"""Support workspace actions that only read the customer's data but must leave a trace: seeing a full phone
number. Phones are masked on every staff screen; an agent who must dial one asks for it, and the reveal is
a StaffAction row (who saw which number when), so the customer can be told on request."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from phonenumbers import PhoneNumberFormat, format_number

from accounts.audit import staff_action_record
from accounts.models import StaffAction, User
from core.errors import ApplicationError
from core.masking import mask_phone
from repayments.errors import RepaymentsError

PHONE_REVEALED = "phone_revealed"
# A day of calls needs a few dozen numbers; far more in an hour looks like copying the customer base.
PHONE_REVEALS_PER_HOUR = 60
# Which number was shown (``detail["field"]``): only the account's phone today; a card's reserved phone
# is never stored in full, so it cannot be revealed.
ACCOUNT_PHONE = "account_phone"


def customer_phone_reveal(*, staff: User, customer: User, field: str = ACCOUNT_PHONE) -> str:
    """The customer's full number, after writing who saw it. The staff row is locked so two reveals in
    flight count against the same hourly limit; the number itself is never logged or stored again."""
    if not staff.is_staff or not staff.has_perm("accounts.reveal_phone"):
        raise ApplicationError(RepaymentsError.STAFF_ONLY, _("You may not see full phone numbers."))
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=staff.pk).first()
        recent = StaffAction.objects.filter(
            staff=staff, action=PHONE_REVEALED, created_at__gte=timezone.now() - timedelta(hours=1)
        ).count()
        if recent >= PHONE_REVEALS_PER_HOUR:
            raise ApplicationError(
                RepaymentsError.PHONE_REVEAL_LIMIT,
                _("You have seen %(n)s phone numbers in the last hour: ask a lead.")
                % {"n": PHONE_REVEALS_PER_HOUR},
            )
        staff_action_record(
            staff=staff,
            customer=customer,
            action=PHONE_REVEALED,
            detail={"field": field, "masked": mask_phone(customer.phone)},
        )
    return format_number(customer.phone, PhoneNumberFormat.INTERNATIONAL)
