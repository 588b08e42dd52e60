"""Staff groups (DESIGN.md: the admin is the staff's workspace): ``agent`` reviews applications, offers
terms, logs calls, sends payment-link SMS and asks to undo a charge-off; ``approver`` can also approve
offers and charge-off undos past the maker-checker thresholds; ``lead`` (team lead) has the approver's
rights plus the team's queues and figures (reassigning work, approving a deadline extension); ``finance``
reads the journal (entries, trial balance, plan statements) and works the reconciliation breaks.
terms, logs calls, asks to undo a charge-off or to waive a penalty or fee, switches auto-debit and unlocks
a sign-in at a customer's request, proposes a payment holiday; ``approver`` can also approve offers,
charge-off undos, waivers and payment holidays past
the maker-checker thresholds; ``lead`` (team lead) has the approver's rights plus the team's queues and
figures (reassigning work, approving a deadline extension); ``finance`` reads the journal (entries, trial
balance, plan statements) and works the reconciliation breaks.

Kept in code and re-applied after every ``migrate`` (post_migrate), so a permission added by a release
reaches the groups without anyone clicking through the admin. Users are put in groups in the admin.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

from accounts.staff_groups import AGENT, APPROVER, FINANCE, LEAD

__all__ = ["AGENT", "APPROVER", "FINANCE", "LEAD", "ensure_staff_groups"]

_AGENT_PERMISSIONS = [
    ("accounts", "view_user"),
    ("accounts", "view_staffaction"),
    ("installments", "view_installmentproduct"),
    ("installments", "view_installmentplan"),
    ("installments", "view_installment"),
    ("installments", "view_creditevent"),
    ("installments", "view_negotiationapplication"),
    ("installments", "change_negotiationapplication"),
    ("installments", "review_negotiation"),
    ("installments", "view_negotiationdocument"),
    ("installments", "view_negotiationevent"),
    ("installments", "view_contactlog"),
    ("installments", "add_contactlog"),
    # The contact gate (issue 19, item 6): what it refused, and the gated payment-link SMS.
    ("installments", "view_contactrefusal"),
    ("installments", "send_payment_link"),
    ("installments", "view_chargeoffundo"),
    ("installments", "view_payoffcertificate"),
    ("installments", "view_collectioncase"),
    ("installments", "change_collectioncase"),
    ("installments", "view_promisetopay"),
    ("installments", "add_promisetopay"),
    # 暂停计息: agents read the freezes; opening and ending one is the service's (review_negotiation or
    # change_collectioncase, which agents have).
    ("installments", "view_planfreeze"),
    ("repayments", "view_bankcard"),
    ("repayments", "view_repayment"),
    ("repayments", "view_autodebitmandate"),
    ("repayments", "view_debitattempt"),
    # A customer calls about this morning's debit: the agent reads the run (review: a bare 403).
    ("repayments", "view_debitrun"),
    ("notifications", "view_notification"),
    # 投诉: agents file (for a caller), investigate, answer and ask to extend complaints.
    ("repayments", "view_complaint"),
    ("repayments", "add_complaint"),
    ("repayments", "change_complaint"),
    ("repayments", "handle_complaint"),
    ("repayments", "view_complaintdocument"),
    ("repayments", "view_complaintevent"),
    # Workspace actions (issue 19): ask for a waiver (applied at once up to ADJUSTMENT_APPROVAL_ABOVE),
    # switch auto-debit and unlock a sign-in at the customer's request. Recording an offline payment stays
    # with repayments.add_repayment, which no support group has: money in is finance's to confirm.
    ("installments", "view_adjustment"),
    ("installments", "add_adjustment"),
    # Payment holidays (issue 20, item 6): propose one (offered at once up to
    # HOLIDAY_APPROVAL_ABOVE_PERIODS periods, else it waits for an approver).
    ("installments", "view_paymentholiday"),
    ("installments", "add_paymentholiday"),
    ("repayments", "switch_autodebit"),
    ("accounts", "unlock_signin"),
    # The 360 header's "show" button: each reveal is a StaffAction row (accounts.audit).
    ("accounts", "reveal_phone"),
]
_APPROVER_EXTRA = [
    ("installments", "approve_negotiation"),
    ("installments", "approve_charge_off_undo"),
    ("repayments", "approve_complaint_extension"),
    ("installments", "approve_adjustment"),
    ("installments", "approve_holiday"),
    ("installments", "record_promise_after_broken"),
]
_LEAD_EXTRA: list[tuple[str, str]] = [
    ("installments", "reassign_case"),
    # The start page's KPIs (debit success, roll rates, cure and promise-kept rates).
    ("accounts", "view_team_figures"),
    # The one-year LPR a product's cost ceiling may follow (4 x LPR): leads and finance keep it current.
    ("installments", "view_loanprimerate"),
    ("installments", "add_loanprimerate"),
    ("installments", "change_loanprimerate"),
]
_FINANCE_PERMISSIONS = [
    ("installments", "view_installmentplan"),
    ("installments", "view_installment"),
    ("installments", "view_journalentry"),
    ("installments", "view_journalline"),
    ("repayments", "view_repayment"),
    ("repayments", "view_settlementfile"),
    ("repayments", "view_reconciliationbreak"),
    ("repayments", "change_reconciliationbreak"),
    ("installments", "view_loanprimerate"),
    ("installments", "add_loanprimerate"),
    ("installments", "change_loanprimerate"),
]


def _permissions(pairs: list[tuple[str, str]]) -> list[Permission]:
    query = Q()
    for app_label, codename in pairs:
        query |= Q(content_type__app_label=app_label, codename=codename)
    return list(Permission.objects.filter(query))


def ensure_staff_groups(**kwargs: object) -> None:
    """Runs after each app's post_migrate: permissions of apps migrated later are added when their turn
    comes, so after the last app the groups are complete."""
    agent, _ = Group.objects.get_or_create(name=AGENT)
    agent.permissions.set(_permissions(_AGENT_PERMISSIONS))
    approver, _ = Group.objects.get_or_create(name=APPROVER)
    approver.permissions.set(_permissions(_AGENT_PERMISSIONS + _APPROVER_EXTRA))
    lead, _ = Group.objects.get_or_create(name=LEAD)
    lead.permissions.set(_permissions(_AGENT_PERMISSIONS + _APPROVER_EXTRA + _LEAD_EXTRA))
    finance, _ = Group.objects.get_or_create(name=FINANCE)
    finance.permissions.set(_permissions(_FINANCE_PERMISSIONS))
