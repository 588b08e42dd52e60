"""立即还款 (issue 18): step 1 refuses what the API refuses, by one rule (``repayment_check``), beside the
field and before the confirmation page; one 剩余待还 figure on page, API and SMS; a failed payment says why
in the customer's language and what to do next; the service hotline in the footer and in SMS."""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.test import APIClient

from installments.allocation import payable_total
from installments.ledger import InstallmentRow, plan_dues, remaining_total
from installments.models import InstallmentStatus, PrepaymentFeePolicy
from installments.services import negotiation_reject, negotiation_start_review
from notifications.messages import PLAIN_WORDS, TEMPLATES, MessageTemplate, render_message
from notifications.models import Notification
from repayments.labels import REASONS, failure_reason
from repayments.models import BankCard, CardStatus, Repayment, RepaymentStatus
from repayments.selectors import account_overview, plan_balance
from repayments.services import repayment_create
from simulators.bank import simulator_set_balance
from tests.cards import CMB_DEBIT
from tests.factories import BoundCardFactory
from tests.installments.negotiation_support import apply

HOTLINE = "400-820-5566"

pytestmark = pytest.mark.usefixtures("fresh_throttles")


def text(response) -> str:
    return response.content.decode()


def in_language(client, customer, language: str) -> None:
    """The page language: the account's (issue 18 item 4) and the switch's cookie, whichever decides."""
    customer.language = language
    customer.save(update_fields=["language"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language


def api_for(customer) -> APIClient:
    client = APIClient()
    client.force_authenticate(customer)
    return client


# --- step 1: the options ----------------------------------------------------------------------------------


def test_options_show_their_amounts_and_no_zero_option_is_offered(signed_in, current_plan, card) -> None:
    page = text(signed_in.get(reverse("repayments:pay", args=[current_plan.public_id])))
    balance = plan_balance(current_plan)
    assert balance.due_now == 0
    assert 'value="due_now"' not in page  # nothing is due: the ¥0.00 option is not offered
    assert not re.search(r'name="mode"[^>]*checked', page)  # and nothing is preselected
    assert 'id="nothing-due"' in page
    assert f"¥{balance.payoff:,.2f}" in page
    assert "提前结清金额" in page  # the payoff figure under its own name
    assert "剩余待还" in page
    assert f"¥{balance.remaining:,.2f}" in page


def test_due_now_is_preselected_with_its_amount(signed_in, overdue_plan, card) -> None:
    page = text(signed_in.get(reverse("repayments:pay", args=[overdue_plan.public_id])))
    due = plan_balance(overdue_plan).due_now
    assert due > 0
    assert re.search(r'value="due_now"[^>]*checked', page)
    assert f"¥{due:,.2f}" in page
    assert 'id="nothing-due"' not in page


def test_nothing_left_to_pay_says_so_and_offers_next_steps(signed_in, customer, current_plan, card) -> None:
    payoff = plan_balance(current_plan).payoff
    repayment_create(
        customer=customer, plan=current_plan, mode="payoff", card=card, channel="web", idempotency_key="all"
    )
    page = text(signed_in.get(reverse("repayments:pay", args=[current_plan.public_id])))
    assert payoff > 0
    assert 'id="nothing-to-pay"' in page
    assert 'name="step"' not in page  # no form to fill in
    assert 'data-step="plan"' in page
    assert HOTLINE in page


# --- step 1 and the API refuse the same things, with the same codes ------------------------------------


def _cases(customer, other_customer, plan, card) -> dict[str, tuple[dict, str, int, str]]:
    """name -> (the form's fields, the field the web shows the error beside, API status, API code)."""
    today = timezone.localdate()
    next_due = plan_balance(plan).next_due_date
    assert next_due is not None
    other_card = BoundCardFactory(customer=other_customer, number=CMB_DEBIT)
    removed = BoundCardFactory(customer=customer, number=CMB_DEBIT)
    BankCard.objects.filter(pk=removed.pk).update(status=CardStatus.REMOVED)
    now = {"when": "now", "card": str(card.public_id)}
    return {
        "zero": ({**now, "mode": "custom", "amount": "0.00"}, "amount", 400, "invalid_amount"),
        "above_payoff": (
            {**now, "mode": "custom", "amount": "99999.00"},
            "amount",
            422,
            "amount_exceeds_outstanding",
        ),
        "after_next_due_date": (
            {
                "mode": "custom",
                "amount": "10.00",
                "when": "date",
                "scheduled_for": (next_due + timedelta(days=1)).isoformat(),
                "card": str(card.public_id),
            },
            "scheduled_for",
            400,
            "scheduled_date_invalid",
        ),
        "in_the_past": (
            {
                "mode": "custom",
                "amount": "10.00",
                "when": "date",
                "scheduled_for": (today - timedelta(days=1)).isoformat(),
                "card": str(card.public_id),
            },
            "scheduled_for",
            400,
            "scheduled_date_invalid",
        ),
        "another_customers_card": (
            {"when": "now", "mode": "custom", "amount": "10.00", "card": str(other_card.public_id)},
            "card",
            404,
            "card_not_found",
        ),
        "removed_card": (
            {"when": "now", "mode": "custom", "amount": "10.00", "card": str(removed.public_id)},
            "card",
            404,
            "card_not_found",
        ),
    }


CASES = [
    "zero",
    "above_payoff",
    "after_next_due_date",
    "in_the_past",
    "another_customers_card",
    "removed_card",
]


@pytest.mark.parametrize("case", CASES)
def test_step_one_refuses_beside_the_field_before_the_confirmation(
    case, signed_in, customer, other_customer, current_plan, card
) -> None:
    fields, field, _status, _code = _cases(customer, other_customer, current_plan, card)[case]
    response = signed_in.post(
        reverse("repayments:pay", args=[current_plan.public_id]), {"step": "review", **fields}
    )
    page = text(response)
    assert response.status_code == 200
    assert f'id="id_{field}_error"' in page, page
    assert 'name="key"' not in page  # the confirmation page was not reached
    assert not Repayment.objects.exists()
    if case == "after_next_due_date":  # the error says the range
        next_due = plan_balance(current_plan).next_due_date
        assert f"{next_due.year}年{next_due.month}月{next_due.day}日" in page


@pytest.mark.parametrize("case", CASES)
def test_the_api_refuses_the_same_with_a_stable_code(
    case, customer, other_customer, current_plan, card
) -> None:
    fields, _field, status, code = _cases(customer, other_customer, current_plan, card)[case]
    body = {"plan_id": str(current_plan.public_id), "mode": fields["mode"], "amount": fields["amount"]}
    body["card_id"] = fields["card"]
    if fields["when"] == "date":
        body["scheduled_for"] = fields["scheduled_for"]
    response = api_for(customer).post(
        "/api/v1/repayments/", body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())
    )
    assert response.status_code == status, response.content
    assert response.json()["code"] == code
    assert not Repayment.objects.exists()


def test_a_date_of_today_pays_now_and_the_next_due_date_is_allowed(signed_in, current_plan, card) -> None:
    url = reverse("repayments:pay", args=[current_plan.public_id])
    next_due = plan_balance(current_plan).next_due_date
    base = {
        "step": "review",
        "mode": "custom",
        "amount": "10.00",
        "when": "date",
        "card": str(card.public_id),
    }
    today = text(signed_in.post(url, {**base, "scheduled_for": timezone.localdate().isoformat()}))
    assert 'name="key"' in today
    assert '<input type="hidden" name="when" value="now">' in today
    last = text(signed_in.post(url, {**base, "scheduled_for": next_due.isoformat()}))
    assert 'name="key"' in last
    assert settings.SCHEDULED_PAYMENTS_FROM in last


def test_the_confirm_button_gets_a_busy_state(signed_in, current_plan, card) -> None:
    url = reverse("repayments:pay", args=[current_plan.public_id])
    page = text(
        signed_in.post(
            url,
            {
                "step": "review",
                "mode": "custom",
                "amount": "10.00",
                "when": "now",
                "card": str(card.public_id),
            },
        )
    )
    assert "data-busy" in page
    assert 'data-busy-label="处理中…"' in page
    assert "js/busy.js" in page


# --- one 剩余待还 -----------------------------------------------------------------------------------------


def test_remaining_is_one_figure_on_page_api_and_sms(signed_in, customer, current_plan, card) -> None:
    """The plan waives future fees on payoff, so 提前结清金额 is lower than 剩余待还: both are shown, each
    under its own name, and 剩余待还 is the same on the result page, 我的账户, the API and the SMS."""
    repayment = repayment_create(
        customer=customer,
        plan=current_plan,
        mode="custom",
        amount="50.00",
        card=card,
        channel="web",
        idempotency_key="r1",
    )
    assert repayment.status == RepaymentStatus.SUCCEEDED
    balance = plan_balance(current_plan)
    assert balance.payoff < balance.remaining  # the two figures differ, so a mix-up shows
    remaining = f"{balance.remaining:,.2f}"
    page = text(signed_in.get(reverse("repayments:repayment", args=[repayment.public_id])))
    assert re.search(r'id="remaining">¥' + re.escape(remaining), page)
    assert re.search(r'id="payoff">¥' + re.escape(f"{balance.payoff:,.2f}"), page)
    assert "剩余待还" in page
    assert "提前结清金额" in page
    [bill] = account_overview(customer=customer).bills
    assert bill.remaining == balance.remaining
    bills = api_for(customer).get("/api/v1/bills/").json()["results"]
    assert [b["remaining"] for b in bills] == [str(balance.remaining)]
    sms = Notification.objects.get(user=customer, template_code="repayment_received")
    assert f"剩余待还¥{remaining}" in sms.text


@given(
    rows=st.lists(
        st.tuples(
            st.integers(0, 100_000),
            st.integers(0, 5_000),
            st.integers(0, 2_000),
            st.booleans(),
            st.integers(-40, 300),
        ),
        min_size=1,
        max_size=12,
    ),
    policy=st.sampled_from(list(PrepaymentFeePolicy.values)),
)
def test_remaining_is_every_open_amount_and_never_below_the_payoff(rows, policy) -> None:
    today = timezone.localdate()
    installments = [
        InstallmentRow(
            pk=n,
            plan_id=1,
            sequence=n,
            due_date=today + timedelta(days=days),
            principal_due=Decimal(principal) / 100,
            fee_due=Decimal(fee) / 100,
            penalty_due=Decimal(penalty) / 100,
            principal_paid=Decimal(0),
            fee_paid=Decimal(0),
            penalty_paid=Decimal(0),
            principal_waived=Decimal(0),
            fee_waived=Decimal(0),
            penalty_waived=Decimal(0),
            status=InstallmentStatus.PAID if paid else InstallmentStatus.PENDING,
            paid_at=None,
        )
        for n, (principal, fee, penalty, paid, days) in enumerate(rows, start=1)
    ]

    class Terms:
        prepayment_fee_policy = policy
        prepayment_fee_rate = Decimal("0.01")

    dues = plan_dues(Terms(), installments, today=today)
    remaining = remaining_total(installments)
    assert remaining == sum((d.total for d in dues), Decimal(0))
    assert payable_total(dues) <= remaining


# --- failures: why, in the customer's language, and what next --------------------------------------------


def _failed(customer, plan, card, code: str, amount: str = "106.00") -> Repayment:
    return Repayment.objects.create(
        customer=customer,
        plan=plan,
        amount=Decimal(amount),
        mode="custom",
        channel="web",
        card=card,
        idempotency_key=f"failed-{code}",
        status=RepaymentStatus.FAILED,
        failure_code=code,
        failure_message="Insufficient balance on the card.",  # the bank's words: never on a page
    )


CHINESE = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("code", [*sorted(REASONS), "something_new"])
def test_a_failed_payment_says_why_and_what_to_do_next(
    code, language, signed_in, customer, current_plan, card
) -> None:
    in_language(signed_in, customer, language)
    repayment = _failed(customer, current_plan, card, code)
    response = signed_in.get(reverse("repayments:repayment", args=[repayment.public_id]))
    page = text(response)
    reason = html.unescape(re.search(r'id="failure-reason">([^<]*)<', page).group(1))
    with translation.override(language):
        assert str(failure_reason(code)) in reason
    assert "_" not in reason  # no code (insufficient_funds) in the text
    assert "Insufficient balance on the card." not in page
    if "_" in code:  # a code that is no English word never reaches the page
        assert code not in page
    if language == "zh-hans":
        assert CHINESE.search(reason), reason
    else:
        assert not CHINESE.search(reason), reason
    steps = re.findall(r'data-step="([a-z_]+)"', page)
    assert steps[-1] == "hotline"
    assert HOTLINE in page
    if code == "nothing_due":
        assert steps == ["plan", "hotline"]
    elif code in ("declined", "card_expired", "card_removed"):
        assert "retry" not in steps  # the card cannot pay: no "try again"
        assert "one_time_card" in steps
    else:
        assert steps[0] == "retry"
    if code in ("insufficient_funds", "limit_exceeded"):
        assert "smaller_amount" in steps
        link = re.search(r'data-step="smaller_amount"><a [^>]*href="([^"]+)"', page).group(1)
        assert f"card={card.public_id}" in link
        assert "mode=custom" in link


def test_next_steps_offer_another_card_and_the_relief_the_plan_allows(
    signed_in, customer, overdue_plan, card
) -> None:
    other = BoundCardFactory(customer=customer, number=CMB_DEBIT)
    repayment = _failed(customer, overdue_plan, card, "insufficient_funds")
    page = text(signed_in.get(reverse("repayments:repayment", args=[repayment.public_id])))
    link = re.search(r'data-step="other_card"><a [^>]*href="([^"]+)"', page).group(1)
    assert f"card={other.public_id}" in link.replace("&amp;", "&")
    assert 'data-step="negotiate"' in page  # overdue: 协商还款 can be applied for
    # Step 1 opened from the link has the other card chosen.
    step1 = text(signed_in.get(link.replace("&amp;", "&")))
    assert re.search(rf'value="{other.public_id}"[^>]*checked', step1)


def test_a_real_insufficient_funds_failure_then_a_smaller_amount(
    signed_in, customer, overdue_plan, card
) -> None:
    simulator_set_balance(card.gateway_token, Decimal("100.00"))
    url = reverse("repayments:pay", args=[overdue_plan.public_id])
    choose = {"step": "review", "mode": "due_now", "when": "now", "card": str(card.public_id)}
    key = re.search(r'name="key" value="([0-9a-f]+)"', text(signed_in.post(url, choose))).group(1)
    done = signed_in.post(url, {**choose, "step": "confirm", "key": key})
    failed = Repayment.objects.get()
    assert failed.failure_code == "insufficient_funds"
    page = text(signed_in.get(done["Location"]))
    assert "银行卡余额不足" in page
    smaller = (
        re.search(r'data-step="smaller_amount"><a [^>]*href="([^"]+)"', page).group(1).replace("&amp;", "&")
    )
    form = text(signed_in.get(smaller))
    assert re.search(r'value="custom"[^>]*checked', form)
    pay_less = {
        "step": "review",
        "mode": "custom",
        "amount": "100.00",
        "when": "now",
        "card": str(card.public_id),
    }
    key = re.search(r'name="key" value="([0-9a-f]+)"', text(signed_in.post(url, pay_less))).group(1)
    signed_in.post(url, {**pay_less, "step": "confirm", "key": key})
    assert Repayment.objects.filter(status=RepaymentStatus.SUCCEEDED, amount=Decimal("100.00")).exists()


def test_the_api_gives_the_reason_in_the_requests_language(customer, current_plan, card) -> None:
    repayment = _failed(customer, current_plan, card, "insufficient_funds")
    api = api_for(customer)
    zh = api.get(f"/api/v1/repayments/{repayment.public_id}/", HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert zh["failure_code"] == "insufficient_funds"
    assert CHINESE.search(zh["failure_reason"])


def test_reason_codes_are_known_to_the_sms_words_too() -> None:
    """A failed debit's SMS says the reason in its own short words (notifications.messages): every code a
    page can explain has them, so SMS and page never disagree about which failures exist."""
    assert set(REASONS) <= set(PLAIN_WORDS["reason"])


# --- the service hotline ----------------------------------------------------------------------------------


def test_the_hotline_is_in_every_page_footer(client, signed_in, current_plan) -> None:
    for url in [reverse("repayments:account"), reverse("repayments:bills"), reverse("repayments:cards")]:
        assert re.search(r"<footer[^>]*>.*" + re.escape(HOTLINE), text(signed_in.get(url)), re.S), url
    signed_in.logout()
    assert HOTLINE in text(client.get(reverse("accounts:login")))


# Any way an SMS can send the customer to us: 联系客服 above all (negotiation_expired once said to contact
# us with no number), but also 客服 alone, 联系我们, 致电, 客服热线 and the English phrasings.
_CONTACT_ZH = re.compile(r"客服|联系我们|致电")
_CONTACT_EN = re.compile(r"contact us|call us|customer service|hotline", re.IGNORECASE)


def says_contact_us(template: MessageTemplate) -> bool:
    return bool(_CONTACT_ZH.search(template.zh) or _CONTACT_EN.search(template.en))


def hotline_missing(template: MessageTemplate) -> list[str]:
    """The languages in which ``template`` renders without the hotline number."""
    return [
        language
        for language in ("zh-hans", "en")
        if "4008205566" not in render_message(template, language=language, context={**template.sample})
    ]


@override_settings(SERVICE_HOTLINE="4008205566")
def test_the_hotline_is_in_every_sms_that_says_contact_us() -> None:
    """Rendered after the masking of long digit runs: a hotline of ten digits is shown whole."""
    saying_contact = [t for t in TEMPLATES.values() if says_contact_us(t)]
    assert {t.code for t in saying_contact} >= {
        "charge_off_notice",
        "card_bound",
        "card_removed",
        "negotiation_rejected",
        "negotiation_expired",
    }
    for template in saying_contact:
        named = replace(template, sample={**template.sample, "name": "张*"})
        assert hotline_missing(named) == [], template.code


@override_settings(SERVICE_HOTLINE="4008205566")
def test_the_contact_us_check_catches_a_message_that_names_no_number() -> None:
    """The check above fails on what slipped through before: 联系客服 with no number after it."""
    expired = TEMPLATES["negotiation_expired"]
    for zh, en in [
        ("您的{plan}协商方案已过期未确认，如有疑问请联系客服。", "The offer for {plan} expired."),
        ("您的{plan}协商方案已过期，请致电客服热线。", "The offer for {plan} expired."),
        ("您的{plan}协商方案已过期。", "The offer for {plan} expired. Questions? Contact us."),
    ]:
        numberless = replace(expired, zh=zh, en=en)
        assert says_contact_us(numberless), zh
        assert hotline_missing(numberless), zh
    assert not says_contact_us(replace(expired, zh="您的{plan}协商方案已过期。", en="It expired."))


# --- the shared "what next" panel on the refusals of 二次分期 and 协商还款 ------------------------------


def test_a_refused_restage_offers_paying_negotiating_and_the_hotline(signed_in, late_plan) -> None:
    page = text(signed_in.get(reverse("installments:restage", args=[late_plan.public_id])))
    assert 'data-code="overdue_beyond_grace"' in page
    assert re.findall(r'data-step="([a-z_]+)"', page) == ["pay", "negotiate", "hotline"]
    assert HOTLINE in page


def test_a_rejected_application_offers_the_next_steps(signed_in, late_plan, agent) -> None:
    application = apply(late_plan)
    negotiation_start_review(staff=agent, application=application)
    negotiation_reject(staff=agent, application=application, reason="income_not_verified")
    page = text(signed_in.get(reverse("installments:negotiation", args=[application.public_id])))
    # The page's timeline marks its steps with data-step too: read the next-steps panel only.
    panel = page[page.index('id="next-steps"') :]
    steps = re.findall(r'data-step="([a-z_]+)"', panel)
    assert steps[0] == "pay"
    assert "negotiate" not in steps
    assert steps[-1] == "hotline"


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_a_scheduled_payment_says_when_it_runs(language, signed_in, customer, current_plan, card) -> None:
    when = timezone.localdate() + timedelta(days=2)
    repayment = repayment_create(
        customer=customer,
        plan=current_plan,
        mode="custom",
        amount="20.00",
        card=card,
        channel="web",
        idempotency_key="later",
        scheduled_for=when,
    )
    in_language(signed_in, customer, language)
    page = text(signed_in.get(reverse("repayments:repayment", args=[repayment.public_id])))
    notice = re.search(r'id="scheduled-run">([^<]*)<', page).group(1)
    assert settings.SCHEDULED_PAYMENTS_FROM == "09:05"
    assert "09:05" in notice
    with translation.override(language):
        assert date_format(when) in notice
