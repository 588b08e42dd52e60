"""Customer pages through the Django test client: each page, its forms, and other customers' ids -> 404."""

from __future__ import annotations

import re
from decimal import Decimal

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import OtpPurpose
from installments.services import plan_create
from notifications.models import Notification
from repayments.models import AutoDebitMandate, BankCard, Repayment, RepaymentStatus
from repayments.services import repayment_create
from tests.cards import CMB_DEBIT, ICBC_DEBIT


def text(response) -> str:
    return response.content.decode()


def test_pages_need_sign_in(client, current_plan) -> None:
    for url in [
        reverse("repayments:account"),
        reverse("repayments:bills"),
        reverse("repayments:cards"),
        reverse("repayments:records"),
        reverse("notifications:inbox"),
        reverse("repayments:plan", args=[current_plan.public_id]),
        reverse("repayments:pay", args=[current_plan.public_id]),
    ]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("accounts:login")), url


def test_account_bills_plan_and_records_render(signed_in, current_plan, overdue_plan, card) -> None:
    page = text(signed_in.get(reverse("repayments:account")))
    # The six months ahead: each month's amount as text in yuan (readable on a phone), six bars.
    assert len(re.findall(r'<span class="chart-amount">¥[\d,]+\.\d\d</span>', page)) == 6
    assert "¥" in page
    assert "overdue" in page.lower() or "逾期" in page
    bills = text(signed_in.get(reverse("repayments:bills")))
    assert current_plan.display_name in bills
    assert overdue_plan.display_name in bills
    assert bills.index(overdue_plan.display_name) < bills.index(
        current_plan.display_name
    )  # most urgent first
    detail = text(signed_in.get(reverse("repayments:plan", args=[current_plan.public_id])))
    assert f"{current_plan.apr_percent}%" in detail
    assert detail.count("<tr>") >= 12  # the schedule
    assert signed_in.get(reverse("repayments:records")).status_code == 200
    assert signed_in.get(reverse("notifications:inbox")).status_code == 200


def test_amounts_are_yuan_with_two_decimals(signed_in, current_plan) -> None:
    page = text(signed_in.get(reverse("repayments:bills")))
    assert "¥1,272.00" in page  # 1,200 + 12 x 6.00 of fees


def test_another_customers_objects_are_404(client, other_customer, current_plan, card) -> None:
    repayment = Repayment.objects.create(
        customer=current_plan.customer,
        plan=current_plan,
        amount=Decimal("1.00"),
        mode="custom",
        channel="web",
        card=card,
        idempotency_key="x",
        status=RepaymentStatus.SCHEDULED,
        scheduled_for=current_plan.first_due_date,
    )
    client.force_login(other_customer)
    gets = [
        reverse("repayments:plan", args=[current_plan.public_id]),
        reverse("repayments:pay", args=[current_plan.public_id]),
        reverse("repayments:repayment", args=[repayment.public_id]),
        reverse("installments:restage", args=[current_plan.public_id]),
        reverse("installments:negotiate", args=[current_plan.public_id]),
    ]
    for url in gets:
        assert client.get(url).status_code == 404, url
    posts = [
        reverse("repayments:plan_autodebit", args=[current_plan.public_id]),
        reverse("repayments:repayment_cancel", args=[repayment.public_id]),
        reverse("repayments:card_default", args=[card.public_id]),
        reverse("repayments:card_unbind", args=[card.public_id]),
    ]
    for url in posts:
        assert client.post(url, {"enabled": "on"}).status_code == 404, url
    repayment.refresh_from_db()
    card.refresh_from_db()
    assert repayment.status == RepaymentStatus.SCHEDULED
    assert card.status == "active"


def test_csrf_is_enforced(customer, current_plan) -> None:
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(customer)
    response = strict.post(reverse("repayments:pay", args=[current_plan.public_id]), {"step": "review"})
    assert response.status_code == 403


# --- cards --------------------------------------------------------------------------------------------


def test_bind_a_card_with_the_sms_code(signed_in, customer, codes) -> None:
    url = reverse("repayments:card_bind")
    assert signed_in.get(url).status_code == 200
    signed_in.post(url, {"action": "send_code"})
    code = codes.codes[-1]
    form = {"number": CMB_DEBIT, "holder_name": customer.real_name, "reserved_phone": "13811112222"}
    wrong = signed_in.post(url, {**form, "code": "000000"})
    assert wrong.status_code == 200
    assert CMB_DEBIT not in text(wrong)  # never echoed back
    assert not BankCard.objects.filter(customer=customer).exists()
    response = signed_in.post(url, {**form, "code": code})
    assert response.status_code == 302
    card = BankCard.objects.get(customer=customer)
    assert card.last4 == CMB_DEBIT[-4:]
    cards_page = text(signed_in.get(reverse("repayments:cards")))
    assert CMB_DEBIT not in cards_page
    assert CMB_DEBIT[-4:] in cards_page


def test_default_and_unbind(signed_in, customer, bind) -> None:
    first = bind(customer, ICBC_DEBIT)
    second = bind(customer, CMB_DEBIT)
    signed_in.post(reverse("repayments:card_default", args=[second.public_id]))
    second.refresh_from_db()
    assert second.is_default
    signed_in.post(reverse("repayments:card_unbind", args=[first.public_id]))
    first.refresh_from_db()
    assert first.status == "removed"


# --- auto-debit ----------------------------------------------------------------------------------------


def test_turn_auto_debit_on_and_off(signed_in, current_plan, card) -> None:
    url = reverse("repayments:plan_autodebit", args=[current_plan.public_id])
    signed_in.post(url, {"enabled": "on", "card": card.pk})
    assert AutoDebitMandate.objects.get(plan=current_plan).enabled
    signed_in.post(url, {"card": card.pk})
    assert not AutoDebitMandate.objects.get(plan=current_plan).enabled


def test_the_plan_page_says_the_auto_debit_state_near_the_top(signed_in, current_plan, card) -> None:
    """A phone shows the setting ~1,000 px down: the summary says on/off and links to it."""
    url = reverse("repayments:plan", args=[current_plan.public_id])
    off = text(signed_in.get(url))
    assert 'data-autodebit="off"' in off
    assert off.index('id="autodebit-state"') < off.index('id="autodebit"') - 1000
    assert 'href="#autodebit"' in off
    signed_in.post(
        reverse("repayments:plan_autodebit", args=[current_plan.public_id]),
        {"enabled": "on", "card": card.pk},
    )
    on = text(signed_in.get(url))
    assert 'data-autodebit="on"' in on
    assert f"尾号{card.last4}" in on.split('id="autodebit-state"')[1].split("</dd>")[0]


def test_an_overdue_bill_leads_to_a_negotiated_plan(signed_in, overdue_plan, current_plan) -> None:
    page = text(signed_in.get(reverse("repayments:bills")))
    negotiate = reverse("installments:negotiate", args=[overdue_plan.public_id])
    assert page.count("data-negotiate") == 1  # the overdue plan only
    assert f'href="{negotiate}"' in page


# --- 立即还款 --------------------------------------------------------------------------------------------


def test_pay_part_of_a_bill_confirm_and_result(signed_in, current_plan, card) -> None:
    url = reverse("repayments:pay", args=[current_plan.public_id])
    assert signed_in.get(url).status_code == 200
    choose = {
        "step": "review",
        "mode": "custom",
        "amount": "50.00",
        "when": "now",
        "card": str(card.public_id),
    }
    confirm = signed_in.post(url, choose)
    assert confirm.status_code == 200
    assert "¥50.00" in text(confirm)
    assert not Repayment.objects.exists()  # nothing paid before the confirmation
    key = re.search(r'name="key" value="([0-9a-f]+)"', text(confirm)).group(1)
    final = {**choose, "step": "confirm", "key": key}
    first = signed_in.post(url, final)
    second = signed_in.post(url, final)  # a double click
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    repayment = Repayment.objects.get()
    assert repayment.status == RepaymentStatus.SUCCEEDED
    assert repayment.amount == Decimal("50.00")
    result = text(signed_in.get(first["Location"]))
    assert "¥50.00" in result
    records = text(signed_in.get(reverse("repayments:records")))
    assert "¥50.00" in records


def test_pay_with_a_card_used_once_never_shows_the_number(signed_in, customer, current_plan) -> None:
    url = reverse("repayments:pay", args=[current_plan.public_id])
    choose = {"step": "review", "mode": "custom", "amount": "20.00", "when": "now", "card": "one_time"}
    confirm = signed_in.post(url, choose)
    key = re.search(r'name="key" value="([0-9a-f]+)"', text(confirm)).group(1)
    bad = signed_in.post(
        url, {**choose, "step": "confirm", "key": key, "number": CMB_DEBIT, "holder_name": "别人"}
    )
    assert bad.status_code == 200
    assert CMB_DEBIT not in text(bad)
    ok = signed_in.post(
        url,
        {
            **choose,
            "step": "confirm",
            "key": key + "2",
            "number": CMB_DEBIT,
            "holder_name": customer.real_name,
        },
    )
    assert ok.status_code == 302
    repayment = Repayment.objects.get(status=RepaymentStatus.SUCCEEDED)
    assert repayment.one_time_card_last4 == CMB_DEBIT[-4:]
    assert CMB_DEBIT not in text(signed_in.get(ok["Location"]))


def test_pay_refusals_show_next_to_the_field(signed_in, current_plan, card) -> None:
    url = reverse("repayments:pay", args=[current_plan.public_id])
    too_much = {
        "step": "review",
        "mode": "custom",
        "amount": "99999.00",
        "when": "now",
        "card": str(card.public_id),
    }
    response = signed_in.post(url, too_much)  # refused in step 1: no confirmation page
    assert response.status_code == 200
    assert 'id="id_amount_error"' in text(response)
    assert 'name="key"' not in text(response)
    assert not Repayment.objects.exists()
    missing = signed_in.post(
        url, {"step": "review", "mode": "custom", "when": "now", "card": str(card.public_id)}
    )
    assert 'id="id_amount_error"' in text(missing)


def test_schedule_and_cancel_a_payment(signed_in, current_plan, card) -> None:
    url = reverse("repayments:pay", args=[current_plan.public_id])
    choose = {
        "step": "review",
        "mode": "custom",
        "amount": "30.00",
        "when": "date",
        "scheduled_for": (current_plan.first_due_date).isoformat(),
        "card": str(card.public_id),
    }
    confirm = signed_in.post(url, choose)
    key = re.search(r'name="key" value="([0-9a-f]+)"', text(confirm)).group(1)
    done = signed_in.post(url, {**choose, "step": "confirm", "key": key})
    repayment = Repayment.objects.get()
    assert done.status_code == 302
    assert repayment.status == RepaymentStatus.SCHEDULED
    signed_in.post(reverse("repayments:repayment_cancel", args=[repayment.public_id]))
    repayment.refresh_from_db()
    assert repayment.status == RepaymentStatus.CANCELLED


def test_inbox_shows_the_customers_sms(signed_in, customer, codes) -> None:
    codes.request(customer, OtpPurpose.BIND_CARD)
    page = text(signed_in.get(reverse("notifications:inbox")))
    assert Notification.objects.filter(user=customer).exists()
    assert Notification.objects.filter(user=customer).first().text[:10] in page


def test_records_filter_by_plan_and_month(signed_in, customer, current_plan, card, flat_product) -> None:
    other = plan_create(
        customer=customer, product=flat_product, principal="600.00", tenor=6, description="Bike"
    )
    for plan, amount, key in ((current_plan, "11.00", "a"), (other, "22.00", "b")):
        repayment_create(
            customer=customer,
            plan=plan,
            mode="custom",
            amount=amount,
            card=card,
            channel="web",
            idempotency_key=key,
        )
    url = reverse("repayments:records")
    both = text(signed_in.get(url))
    assert "¥11.00" in both
    assert "¥22.00" in both
    one = text(signed_in.get(url, {"plan": str(other.public_id)}))
    assert "¥22.00" in one
    assert "¥11.00" not in one
    this_month = timezone.localdate().strftime("%Y-%m")
    assert "¥11.00" in text(signed_in.get(url, {"month": this_month}))
    assert "¥11.00" not in text(signed_in.get(url, {"month": "2001-01"}))
