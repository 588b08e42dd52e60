"""Staff groups (DESIGN.md: the admin is the staff's workspace): ``agent`` reviews applications, offers
terms, logs calls and asks to undo a charge-off; ``approver`` can also approve offers and charge-off undos
past the maker-checker thresholds; ``lead`` (team lead) has the approver's rights plus the team's
queues and figures (reassigning work, approving a deadline extension); ``finance`` reads the journal
(entries, trial balance, plan statements) and works the reconciliation breaks.

Kept in code and re-applied after every ``migrate`` (post_migrate), so a permission added by a release
reaches the groups without anyone clicking through the admin. Users are put in groups in the admin.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

AGENT = "agent"
APPROVER = "approver"
LEAD = "lead"
FINANCE = "finance"

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
    ("installments", "view_chargeoffundo"),
    ("installments", "view_payoffcertificate"),
    ("repayments", "view_bankcard"),
    ("repayments", "view_repayment"),
    ("repayments", "view_autodebitmandate"),
    ("repayments", "view_debitattempt"),
    # A customer calls about this morning's debit: the agent reads the run (review: a bare 403).
    ("repayments", "view_debitrun"),
    ("notifications", "view_notification"),
    # The 360 header's "show" button: each reveal is a StaffAction row (accounts.audit).
    ("accounts", "reveal_phone"),
]
_APPROVER_EXTRA = [
    ("installments", "approve_negotiation"),
    ("installments", "approve_charge_off_undo"),
]
_LEAD_EXTRA: list[tuple[str, str]] = [
    # The start page's KPIs (debit success, roll rates, cure and promise-kept rates).
    ("accounts", "view_team_figures"),
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
