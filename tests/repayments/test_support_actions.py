"""Workspace actions at a customer's request (issue 19, item 3): switching auto-debit, unlocking a sign-in,
an offline payment from the workspace; each with its permission per group, its audit row and the SMS."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from accounts.models import OneTimeCode, OtpPurpose, StaffAction
from accounts.services import otp_request, otp_verify
from core.errors import ApplicationError
from notifications.models import Notification
from repayments.models import AutoDebitMandate, Repayment
from repayments.services import autodebit_set, autodebit_switch_for_customer, signin_unlock
from repayments.staff import AGENT, APPROVER, LEAD
from tests.factories import StaffFactory

LOGIN = "accounts:login"
RIGHT = {"username": "13811112222", "password": "secret-pass-1"}  # the ``customer`` fixture
WRONG = {"username": "13811112222", "password": "nope"}


@pytest.fixture
def lead(db):
    return StaffFactory(groups=[LEAD])


def _lock_out(client, settings) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse(LOGIN), WRONG)
    assert client.post(reverse(LOGIN), RIGHT).status_code == 429


# --- auto-debit -------------------------------------------------------------------------------------------


def test_switch_off_and_on_keeps_the_card_and_tells_the_customer(current_plan, card, agent) -> None:
    autodebit_set(customer=current_plan.customer, plan=current_plan, enabled=True)
    off = autodebit_switch_for_customer(staff=agent, plan=current_plan, enabled=False, reason="asked on call")
    assert (off.enabled, off.card) == (False, card)
    sms = Notification.objects.get(template_code="autodebit_off_by_staff")
    assert "应您的要求，客服已关闭" in sms.text
    on = autodebit_switch_for_customer(staff=agent, plan=current_plan, enabled=True, reason="asked again")
    assert (on.enabled, on.card) == (True, card)
    assert f"尾号{card.last4}" in Notification.objects.get(template_code="autodebit_on_by_staff").text
    actions = list(StaffAction.objects.order_by("id").values_list("action", "detail__reason"))
    assert actions == [("autodebit_switched_off", "asked on call"), ("autodebit_switched_on", "asked again")]


def test_switch_refusals(current_plan, card, agent, customer) -> None:
    with pytest.raises(ApplicationError) as no_reason:
        autodebit_switch_for_customer(staff=agent, plan=current_plan, enabled=True, reason=" ")
    assert no_reason.value.code == "reason_required"
    with pytest.raises(ApplicationError) as unchanged:
        autodebit_switch_for_customer(staff=agent, plan=current_plan, enabled=False, reason="r")
    assert unchanged.value.code == "autodebit_unchanged"
    with pytest.raises(ApplicationError) as not_staff:
        autodebit_switch_for_customer(staff=customer, plan=current_plan, enabled=True, reason="r")
    assert not_staff.value.code == "permission_denied"
    assert not StaffAction.objects.exists()
    assert not AutoDebitMandate.objects.exists()


def test_switch_on_without_a_card_is_refused_and_nothing_is_recorded(current_plan, agent) -> None:
    with pytest.raises(ApplicationError) as no_card:
        autodebit_switch_for_customer(staff=agent, plan=current_plan, enabled=True, reason="asked")
    assert no_card.value.code == "card_required"
    assert not StaffAction.objects.exists()
    assert not Notification.objects.exists()


# --- sign-in unlock ----------------------------------------------------------------------------------------


def test_unlock_clears_the_lockout_and_dead_codes(client, customer, agent, settings) -> None:
    _lock_out(client, settings)
    otp_request(user=customer, purpose=OtpPurpose.BIND_CARD)
    OneTimeCode.objects.filter(user=customer).update(attempts=settings.OTP_MAX_ATTEMPTS)
    with pytest.raises(ApplicationError):
        otp_verify(user=customer, purpose=OtpPurpose.BIND_CARD, code="000000")
    cleared = signin_unlock(staff=agent, customer=customer, reason="identified by ID and last payment")
    assert cleared.signin_failures >= 1
    assert cleared.codes_retired == 1
    with pytest.raises(ApplicationError) as retired:
        otp_verify(user=customer, purpose=OtpPurpose.BIND_CARD, code="000000")
    assert retired.value.code == "otp_not_requested"  # a new code may be asked for now
    assert client.post(reverse(LOGIN), RIGHT).status_code == 302
    action = StaffAction.objects.get(action="signin_unlocked")
    assert (action.staff, action.customer) == (agent, customer)
    assert "解除您账户的登录锁定" in Notification.objects.get(template_code="signin_unlocked").text


def test_unlock_refuses_staff_accounts_and_needs_a_reason(agent, approver, customer) -> None:
    with pytest.raises(ApplicationError) as staff:
        signin_unlock(staff=agent, customer=approver, reason="colleague")
    assert staff.value.code == "not_a_customer"
    with pytest.raises(ApplicationError) as no_reason:
        signin_unlock(staff=agent, customer=customer, reason="")
    assert no_reason.value.code == "reason_required"
    assert not StaffAction.objects.exists()


def test_unlock_sms_in_the_accounts_language(agent, customer) -> None:
    customer.language = "en"
    customer.save(update_fields=["language"])
    signin_unlock(staff=agent, customer=customer, reason="identified")
    assert "our support unlocked sign-in" in Notification.objects.get(template_code="signin_unlocked").text


# --- the admin, per group ------------------------------------------------------------------------------


@pytest.mark.parametrize("group", [AGENT, APPROVER, LEAD])
def test_each_group_switches_auto_debit_and_unlocks_but_records_no_offline_payment(
    client, group, current_plan, card, customer
) -> None:
    staff = StaffFactory(groups=[group])
    client.force_login(staff)
    workspace = client.get(reverse("admin:support_customer", args=[customer.pk])).content.decode()
    assert "{# actions" not in workspace
    switch = reverse("admin:support_autodebit_switch", args=[customer.pk, current_plan.pk])
    unlock = reverse("admin:support_signin_unlock", args=[customer.pk])
    waive = reverse("admin:installments_adjustment_add")
    offline = reverse("admin:repayments_repayment_add")
    assert switch in workspace
    assert unlock in workspace
    assert f"{waive}?customer={customer.pk}&amp;plan={current_plan.pk}" in workspace
    assert offline not in workspace  # recording money in stays with repayments.add_repayment
    assert client.get(f"{offline}?customer={customer.pk}&plan={current_plan.pk}").status_code == 403
    log_call = reverse("admin:installments_contactlog_add") + f"?customer={customer.pk}"
    assert log_call in workspace
    assert client.get(log_call).status_code == 200

    page = client.get(switch)
    assert page.status_code == 200
    done = client.post(switch, {"enabled": "1", "reason": "customer asked on the phone"})
    assert done.status_code == 302
    assert done["Location"] == reverse("admin:support_customer", args=[customer.pk])
    assert AutoDebitMandate.objects.get(plan=current_plan).enabled
    again = client.post(switch, {"enabled": "1", "reason": "twice"})
    assert again.status_code == 200
    assert "already on" in again.content.decode() or "已开启" in again.content.decode()

    assert client.post(unlock, {"reason": "identified"}).status_code == 302
    assert StaffAction.objects.filter(staff=staff, action="signin_unlocked").exists()


def test_a_staff_member_without_the_rights_is_refused(client, current_plan, customer) -> None:
    nobody = StaffFactory()
    client.force_login(nobody)
    assert (
        client.get(reverse("admin:support_autodebit_switch", args=[customer.pk, current_plan.pk])).status_code
        == 403
    )
    assert (
        client.post(reverse("admin:support_signin_unlock", args=[customer.pk]), {"reason": "x"}).status_code
        == 403
    )
    assert not StaffAction.objects.exists()


def test_the_unlock_page_refuses_a_staff_account_on_the_form(client, agent, approver) -> None:
    client.force_login(agent)
    page = client.post(reverse("admin:support_signin_unlock", args=[approver.pk]), {"reason": "colleague"})
    assert page.status_code == 200
    assert "errorlist" in page.content.decode()


def test_offline_payment_from_the_workspace_is_prefilled_and_audited(
    client, current_plan, other_customer, flat_product
) -> None:
    finance = StaffFactory(groups=[AGENT])
    finance.user_permissions.add(Permission.objects.get(codename="add_repayment"))
    client.force_login(finance)
    customer = current_plan.customer
    workspace = client.get(reverse("admin:support_customer", args=[customer.pk])).content.decode()
    url = reverse("admin:repayments_repayment_add") + f"?customer={customer.pk}&plan={current_plan.pk}"
    assert url.replace("&", "&amp;") in workspace
    page = client.get(url).content.decode()
    assert f'<option value="{current_plan.pk}" selected>' in page
    other = client.get(reverse("admin:repayments_repayment_add") + f"?customer={other_customer.pk}")
    assert f'value="{current_plan.pk}"' not in other.content.decode()
    done = client.post(
        url, {"plan": current_plan.pk, "amount": "50.00", "reference": "TRF-9", "note": "bank"}
    )
    assert done.status_code == 302
    repayment = Repayment.objects.get()
    action = StaffAction.objects.get(action="offline_payment_recorded")
    assert (action.staff, action.customer, action.detail["amount"]) == (finance, customer, "50.00")
    assert action.detail["repayment"] == str(repayment.public_id)
