"""The payment-link SMS (issue 19, item 3): an agent on the phone with an overdue customer sends them a
link to the plan's 立即还款 page, with the amount due now.

It is a collection SMS, so the contact gate decides first (hours, the debtor alone); a refusal is stored
and shown to the agent with its code. The SMS, in the customer's language, names the plan and the amount
and links to ``/p/<short ref>/`` (``repayments.views.pay_link``), which needs the customer's sign-in: no
token, no phone number, nothing secret in the link. The send is audited (``payment_link_sent``) in the
transaction that writes the SMS.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import staff_action_record
from accounts.models import User
from core.error_codes import CommonError
from core.errors import ApplicationError
from core.ids import short_ref
from installments.ledger import REPAYABLE_PLAN_STATUSES
from installments.models import GateChannel, InstallmentPlan
from installments.services import contact_allowed, contact_refused
from notifications.models import Notification
from notifications.services import notification_create
from repayments.errors import RepaymentsError
from repayments.selectors import plan_balance

PAYMENT_LINK_PERMISSION = "installments.send_payment_link"


def payment_link_url(plan: InstallmentPlan) -> str:
    """The short link of the plan's 立即还款 page, as the SMS carries it."""
    path = reverse("repayments:pay_link", args=[short_ref(plan.public_id)])
    return settings.SMS_LINK_BASE_URL.rstrip("/") + path


def payment_link_send(*, staff: User, plan: InstallmentPlan) -> Notification:
    """Send the customer of ``plan`` an SMS with the amount due now and the link to pay it.

    Refused: without the permission (agents have it), for a plan with nothing due now, and by the contact
    gate (``contact_outside_hours``, stored as a ``ContactRefusal``). A second press in the same minute
    writes nothing new (the outbox's dedupe key). Quiet hours still hold the SMS like any reminder.
    """
    if not (staff.is_active and staff.is_staff and staff.has_perm(PAYMENT_LINK_PERMISSION)):
        raise ApplicationError(CommonError.PERMISSION_DENIED, _("You do not have permission to do this."))
    if plan.status not in REPAYABLE_PLAN_STATUSES:
        raise ApplicationError(RepaymentsError.PLAN_NOT_PAYABLE, _("This plan has nothing left to pay."))
    amount = plan_balance(plan).due_now
    if amount <= 0:
        raise ApplicationError(RepaymentsError.NOTHING_DUE, _("Nothing is due on this plan now."))
    customer = plan.customer
    now = timezone.now()
    decision = contact_allowed(
        customer=customer, channel=GateChannel.SMS, at=now, staff=staff, source="payment_link"
    )
    if not decision.allowed:
        raise contact_refused(customer, decision)
    with transaction.atomic():
        notification = notification_create(
            user=customer,
            code="payment_link",
            context={"plan": plan.display_name, "amount": amount, "link": payment_link_url(plan)},
            dedupe_key=f"payment_link:{plan.pk}:{timezone.localtime(now):%Y%m%d%H%M}",
        )
        staff_action_record(
            staff=staff,
            customer=customer,
            action="payment_link_sent",
            detail={
                "plan": str(plan.public_id),
                "amount": str(amount),
                "notification": str(notification.public_id),
            },
        )
    return notification
