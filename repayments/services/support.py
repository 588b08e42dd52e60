"""What support staff do for a customer from the workspace, at the customer's request (on the phone, in a
chat): switch a plan's auto-debit, unlock a locked sign-in; and the one read that must leave a trace,
seeing a full phone number (masked on every staff screen; each reveal is a StaffAction row, who saw which
number when, so the customer can be told on request). Each is a service that checks the staff
member's permission, records a ``StaffAction`` and writes the customer's SMS in the change's transaction,
so a change the customer did not ask for cannot go unnoticed.

They live here, not in ``accounts``, because the SMS is ``notifications``' (a layer above ``accounts``) and
the auto-debit setting is this app's (``mandates.autodebit_set``)."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from phonenumbers import PhoneNumberFormat, format_number

from accounts.audit import staff_action_record
from accounts.models import StaffAction, User
from accounts.services import LockoutCleared, signin_lockout_clear
from core.error_codes import CommonError
from core.errors import ApplicationError
from core.masking import mask_phone
from installments.errors import InstallmentsError
from installments.models import InstallmentPlan
from notifications.services import notification_create
from repayments.errors import RepaymentsError
from repayments.models import AutoDebitMandate
from repayments.services.mandates import autodebit_set

SWITCH_AUTODEBIT_PERMISSION = "repayments.switch_autodebit"
UNLOCK_SIGNIN_PERMISSION = "accounts.unlock_signin"


def _require(staff: User, permission: str) -> None:
    if not (staff.is_active and staff.is_staff and staff.has_perm(permission)):
        raise ApplicationError(CommonError.PERMISSION_DENIED, _("You do not have permission to do this."))


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(
            InstallmentsError.REASON_REQUIRED, _("A reason is required."), fields={"reason": _("Required.")}
        )
    return reason[:255]


def autodebit_switch_for_customer(
    *, staff: User, plan: InstallmentPlan, enabled: bool, reason: str
) -> AutoDebitMandate:
    """Turn a plan's auto-debit on or off for the customer who asked, on the card it already uses (or the
    default card when it never had one): changing the card needs the customer's SMS code, so staff
    cannot. The rules are ``autodebit_set``'s; the customer gets an SMS saying support did it."""
    _require(staff, SWITCH_AUTODEBIT_PERMISSION)
    reason = _reason(reason)
    current = AutoDebitMandate.objects.filter(plan=plan).first()
    if (current.enabled if current else False) == enabled:
        raise ApplicationError(
            RepaymentsError.AUTODEBIT_UNCHANGED,
            _("Auto-debit is already on for this plan.")
            if enabled
            else _("Auto-debit is already off for this plan."),
        )
    with transaction.atomic():
        mandate = autodebit_set(customer=plan.customer, plan=plan, enabled=enabled)
        staff_action_record(
            staff=staff,
            customer=plan.customer,
            action="autodebit_switched_on" if enabled else "autodebit_switched_off",
            detail={"plan": str(plan.public_id), "card_last4": mandate.card.last4, "reason": reason},
        )
        context: dict[str, object] = {"plan": plan.display_name}
        if enabled:
            context["card_last4"] = mandate.card.last4
        notification_create(
            user=plan.customer,
            code="autodebit_on_by_staff" if enabled else "autodebit_off_by_staff",
            context=context,
            dedupe_key=f"autodebit_by_staff:{mandate.pk}:{enabled}:{timezone.now().isoformat()}",
        )
    return mandate


def signin_unlock(*, staff: User, customer: User, reason: str) -> LockoutCleared:
    """Clear a customer's sign-in lockout (wrong passwords, codes dead from wrong tries) at their request.
    Staff accounts are refused: a locked staff account is an administrator's to look into, not a peer's."""
    _require(staff, UNLOCK_SIGNIN_PERMISSION)
    reason = _reason(reason)
    if customer.is_staff or customer.is_superuser:
        raise ApplicationError(
            RepaymentsError.NOT_A_CUSTOMER,
            _("This is a staff account; an administrator unlocks it."),
        )
    with transaction.atomic():
        cleared = signin_lockout_clear(user=customer)
        staff_action_record(
            staff=staff,
            customer=customer,
            action="signin_unlocked",
            detail={
                "reason": reason,
                "signin_failures": cleared.signin_failures,
                "codes_retired": cleared.codes_retired,
                "reset_counters": cleared.reset_counters,
            },
        )
        notification_create(
            user=customer,
            code="signin_unlocked",
            context={},
            dedupe_key=f"signin_unlocked:{customer.pk}:{timezone.now().isoformat()}",
        )
    return cleared


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
