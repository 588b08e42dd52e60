"""Every customer page speaks one language: the account's (issue 18, item 4).

Each page is rendered through the test client for a zh-hans account and an en account, with the browser
asking for the *other* language, so the account is what decides. The visible text (tags, scripts and
styles stripped; aria-label, title, placeholder and alt kept, as a screen reader reads them) may hold no
text of the other script: in English no CJK character, in Chinese no English word. The allow-lists are
short and explicit: names that are data (the customer's, a product's, a plan's), the brand, and the
language switch's own option in the other language.

Anonymous pages (the public home, sign-in, reset, the locked-out page) follow the switch's cookie, with
the browser again asking for the other language.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import OtpPurpose, User
from installments.models import InstallmentPlan, InstallmentProduct, NegotiationApplication
from installments.services import (
    OfferTerms,
    negotiation_request_info,
    negotiation_start_review,
    overdue_sweep,
    plan_create,
)
from repayments.models import AutoDebitMandate, DebitAttempt, Repayment, RepaymentChannel, RepaymentStatus
from repayments.services import autodebit_set, debit_run_inline, repayment_create
from tests.factories import BoundCardFactory, CustomerFactory
from tests.installments.negotiation_support import apply, send_offer
from tests.schedule_dates import first_due_on, purchase_due_on

ZH, EN = "zh-hans", "en"
OTHER = {ZH: EN, EN: ZH}
INSUFFICIENT_CARD = "6222020000000015"  # the simulated bank refuses every charge: insufficient funds

CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f]+")
WORD = re.compile(r"[A-Za-z]+")

# Visible in English pages although Chinese: the switch offers Chinese in Chinese.
EN_ALLOWED = {"简体中文"}
# Visible in Chinese pages although Latin letters: the switch offers English in English; "ICBC"-style
# codes are never shown; "APR"/"IRR" are not allowed either (年化利率).
ZH_ALLOWED = {"English", "IRR", "PDF", "CSV", "JPEG", "PNG", "MB"}

# Scripts, styles, comments and what the page marks translate="no" (references, certificate numbers and
# codes, links: identifiers, in no language).
_DROP = re.compile(
    r"<(script|style)\b.*?</\1>|<!--.*?-->|<(\w+)\b[^>]*\btranslate=\"no\"[^>]*>.*?</\2>", re.S | re.I
)
_ATTRS = re.compile(r'\b(?:aria-label|title|placeholder|alt)="([^"]*)"', re.I)
_TAG = re.compile(r"<[^>]+>")


def visible_text(page: str) -> list[str]:
    """The page's text nodes and the attributes people read, each unescaped."""
    page = _DROP.sub(" ", page)
    texts = [html.unescape(value) for value in _ATTRS.findall(page)]
    texts += [html.unescape(chunk).strip() for chunk in _TAG.split(page)]
    return [t for t in texts if t]


def violations(page: str, language: str, allowed: set[str]) -> list[str]:
    found = []
    for text in visible_text(page):
        for allow in sorted(allowed, key=len, reverse=True):
            text = text.replace(allow, " ")
        pattern = CJK if language == EN else WORD
        found += [f"{match!r} in {text.strip()[:80]!r}" for match in pattern.findall(text)]
    return found


@dataclass
class Story:
    """One customer's demo-like data: an overdue plan with an offer, another overdue plan to apply for,
    a current plan, repayments that failed, succeeded and are scheduled, SMS in the inbox."""

    customer: User
    current: InstallmentPlan
    overdue: InstallmentPlan
    to_negotiate: InstallmentPlan
    due_today: InstallmentPlan  # its auto-debit failed today: insufficient funds
    agent: User
    repayments: dict[str, Repayment] = field(default_factory=dict)
    offer: NegotiationApplication | None = None
    note: str = ""
    allowed_names: set[str] = field(default_factory=set)


def _overdue(customer: User, product: InstallmentProduct, description: str) -> InstallmentPlan:
    plan = plan_create(
        customer=customer,
        product=product,
        principal=Decimal("3600.00"),
        tenor=12,
        purchase_date=timezone.localdate() - timedelta(days=75),
        description=description,
    )
    overdue_sweep(as_of=timezone.localdate())
    plan.refresh_from_db()
    return plan


def build_story(language: str, product: InstallmentProduct, agent: User, codes) -> Story:
    name = "王五" if language == EN else "张三"
    customer = CustomerFactory(real_name=name, language=language)
    card = BoundCardFactory(customer=customer)
    broke = BoundCardFactory(customer=customer, number=INSUFFICIENT_CARD)
    today = timezone.localdate()
    due_today = plan_create(
        customer=customer,
        product=product,
        principal=Decimal("600.00"),
        tenor=6,
        purchase_date=purchase_due_on(today),
        description="耳机" if language == ZH else "Headphones",
    )
    first_due_on(due_today, today)
    autodebit_set(customer=customer, plan=due_today, enabled=True)
    AutoDebitMandate.objects.filter(plan=due_today).update(card=broke)  # set-up: the debit fails
    debit_run_inline(business_date=today, slot=1)
    assert DebitAttempt.objects.filter(plan=due_today, failure_code="insufficient_funds").exists()
    current = plan_create(
        customer=customer,
        product=product,
        principal=Decimal("12000.00"),
        tenor=12,
        purchase_date=timezone.localdate() - timedelta(days=5),
        description="笔记本电脑" if language == ZH else "Laptop",
    )
    overdue = _overdue(customer, product, "手机" if language == ZH else "Phone")
    to_negotiate = _overdue(customer, product, "沙发" if language == ZH else "Sofa")
    story = Story(customer, current, overdue, to_negotiate, due_today, agent)

    def pay(key: str, plan: InstallmentPlan, amount: str, **kwargs: object) -> Repayment:
        return repayment_create(
            customer=customer,
            plan=plan,
            mode="custom",
            amount=amount,
            channel=RepaymentChannel.WEB,
            idempotency_key=f"story:{key}",
            card=kwargs.pop("card", card),
            **kwargs,
        )

    story.repayments["succeeded"] = pay("ok", current, "1234.56")
    story.repayments["failed"] = pay("broke", overdue, "50.00", card=broke)
    story.repayments["scheduled"] = pay("later", current, "30.00", scheduled_for=current.first_due_date)
    assert story.repayments["succeeded"].status == RepaymentStatus.SUCCEEDED
    assert story.repayments["failed"].status == RepaymentStatus.FAILED
    assert story.repayments["scheduled"].status == RepaymentStatus.SCHEDULED
    codes.request(customer, OtpPurpose.BIND_CARD)  # and an SMS code in the inbox
    application = apply(overdue)
    negotiation_start_review(staff=agent, application=application)
    story.note = "可以按12期还款，请尽快确认。" if language == EN else "We can offer 12 installments."
    story.offer = send_offer(
        agent,
        application,
        OfferTerms(12, Decimal("0.004"), Decimal("0")),
        note=story.note,
    )
    # Data, not interface: names, uploaded file names and the agent's note (marked as the agent's words).
    story.allowed_names = {
        customer.real_name,
        customer.masked_name,
        product.name,
        story.note,
        *(d.original_name for d in application.documents.all()),
        *(p.display_name for p in (current, overdue, to_negotiate, due_today)),
        *(EN_ALLOWED | {settings.SMS_SIGNATURE_EN} if language == EN else ZH_ALLOWED),
    }
    return story


def customer_pages(client: Client, story: Story, language: str) -> dict[str, str]:
    """Every signed-in page, rendered with the browser asking for the other language."""
    headers = {"HTTP_ACCEPT_LANGUAGE": OTHER[language]}
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = OTHER[language]
    client.force_login(story.customer)

    def get(url: str) -> str:
        response = client.get(url, **headers)
        assert response.status_code == 200, url
        return response.content.decode()

    def post(url: str, data: dict[str, str]) -> str:
        response = client.post(url, data, **headers)
        assert response.status_code in (200, 400, 409, 422), (url, response.status_code)
        return response.content.decode()

    current, overdue = story.current, story.overdue
    pay_url = reverse("repayments:pay", args=[overdue.public_id])
    card = story.customer.bank_cards.filter(is_default=True).get()
    choose = {
        "step": "review",
        "mode": "custom",
        "amount": "20.00",
        "when": "now",
        "card": str(card.public_id),
    }
    pages = {
        "account": get(reverse("repayments:account")),
        "bills": get(reverse("repayments:bills")),
        "plan (overdue, auto-debit part)": get(reverse("repayments:plan", args=[overdue.public_id])),
        "plan (current)": get(reverse("repayments:plan", args=[current.public_id])),
        "plan (auto-debit failed)": get(reverse("repayments:plan", args=[story.due_today.public_id])),
        "pay step 1": get(pay_url),
        "pay step 1 with errors": post(pay_url, {**choose, "amount": ""}),
        "pay confirmation": post(pay_url, choose),
        "records": get(reverse("repayments:records")),
        "cards": get(reverse("repayments:cards")),
        "bind card": get(reverse("repayments:card_bind")),
        "bind card with errors": post(
            reverse("repayments:card_bind"), {"number": "1234", "holder_name": "", "reserved_phone": "1"}
        ),
        "二次分期 (quote)": get(reverse("installments:restage", args=[current.public_id])),
        "二次分期 (refused)": get(reverse("installments:restage", args=[overdue.public_id])),
        "延期 (choose)": get(reverse("installments:extend", args=[current.public_id])),
        "延期 (refused)": get(reverse("installments:extend", args=[overdue.public_id])),
        "延期 confirmation": post(
            reverse("installments:extend", args=[current.public_id]), {"action": "choose", "days": "3"}
        ),
        "协商 apply": get(reverse("installments:negotiate", args=[story.to_negotiate.public_id])),
        "协商 apply with errors": post(
            reverse("installments:negotiate", args=[story.to_negotiate.public_id]), {}
        ),
        "协商 offer": get(reverse("installments:negotiation", args=[story.offer.public_id])),
    }
    submitted = apply(story.to_negotiate)
    pages["协商 status"] = get(reverse("installments:negotiation", args=[submitted.public_id]))
    negotiation_start_review(staff=story.agent, application=submitted)
    negotiation_request_info(staff=story.agent, application=submitted, message=story.note)
    pages["协商 information requested"] = get(reverse("installments:negotiation", args=[submitted.public_id]))
    pages["inbox"] = get(reverse("notifications:inbox"))
    for kind, repayment in story.repayments.items():
        pages[f"repayment result ({kind})"] = get(reverse("repayments:repayment", args=[repayment.public_id]))
    succeeded = story.repayments["succeeded"]
    pages["receipt"] = get(reverse("repayments:receipt", args=[succeeded.public_id]))
    pages["statement"] = get(reverse("repayments:statement"))
    pages["解绑 confirmation"] = get(reverse("repayments:card_unbind", args=[card.public_id]))
    restage = reverse("installments:restage", args=[current.public_id])
    tenor = re.search(r'name="tenor" value="(\d+)"', pages["二次分期 (quote)"])
    assert tenor, "no 二次分期 option to confirm"
    pages["二次分期 confirmation"] = post(restage, {"action": "choose", "tenor": tenor.group(1)})
    assert 'value="confirm"' in pages["二次分期 confirmation"]
    paid_off = plan_create(
        customer=story.customer,
        product=current.product,
        principal=Decimal("600.00"),
        tenor=6,
        purchase_date=timezone.localdate() - timedelta(days=3),
        description="耳机" if language == ZH else "Earbuds",
    )
    repayment_create(
        customer=story.customer,
        plan=paid_off,
        mode="payoff",
        channel=RepaymentChannel.WEB,
        idempotency_key=f"story:payoff:{language}",
        card=card,
    )
    pages["payoff certificate"] = get(reverse("repayments:certificate", args=[paid_off.public_id]))
    code = re.search(r"/verify/([A-Za-z0-9]+)/", pages["payoff certificate"])
    assert code, "the certificate shows no verification link"
    # Public pages; signed out they follow the session or the browser (anonymous_pages covers that rule).
    pages["verify"] = get(reverse("repayments:verify", args=[code.group(1)]))
    pages["verify form"] = get(reverse("repayments:verify_form"))
    return pages


def anonymous_pages(client: Client, language: str, phone: str) -> dict[str, str]:
    """The pages before sign-in follow the switch's cookie, whatever the browser asks."""
    headers = {"HTTP_ACCEPT_LANGUAGE": OTHER[language]}
    switched = client.post(reverse("accounts:language"), {"language": language, "next": "/"}, **headers)
    assert switched.status_code == 302

    def get(url: str) -> str:
        response = client.get(url, **headers)
        assert response.status_code == 200, url
        return response.content.decode()

    pages = {
        "public home": get(reverse("installments:home")),
        "login": get(reverse("accounts:login")),
        "login with errors": client.post(
            reverse("accounts:login"), {"username": phone, "password": "wrong"}, **headers
        ).content.decode(),
        "reset request": get(reverse("accounts:reset_request")),
    }
    client.post(reverse("accounts:reset_request"), {"phone": phone}, **headers)
    pages["reset"] = get(reverse("accounts:reset"))
    for _ in range(settings.AXES_FAILURE_LIMIT):
        locked = client.post(reverse("accounts:login"), {"username": phone, "password": "wrong"}, **headers)
    pages["locked out"] = locked.content.decode()
    assert locked.status_code == 429
    return pages


@pytest.fixture
def stories(flat_product, agent, codes) -> dict[str, Story]:
    return {language: build_story(language, flat_product, agent, codes) for language in (ZH, EN)}


@pytest.mark.parametrize("language", [ZH, EN])
def test_every_customer_page_is_in_the_accounts_language(stories, language) -> None:
    story = stories[language]
    pages = customer_pages(Client(), story, language)
    pages.update(anonymous_pages(Client(), language, str(story.customer.phone)))
    assert [name for name, page in pages.items() if f'<html lang="{language}">' not in page] == []
    marker = {ZH: "客服留言（原文）", EN: "Note from our agent (as written)"}[language]
    for name in ("协商 offer", "协商 information requested"):
        assert marker in pages[name]
        assert story.note in pages[name]
    found = [
        f"{name}: {problem}"
        for name, page in pages.items()
        for problem in violations(page, language, story.allowed_names)
    ]
    assert not found, f"{len(found)} words of the other language:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("language", "title"), [(ZH, "分期产品 · 分期还款"), (EN, "Installment products · FenqiPay")]
)
def test_the_public_home_has_no_admin_link_one_brand_and_grouped_amounts(
    client, flat_product, language, title
):
    page = client.get(reverse("installments:home"), HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert f"<title>{title}</title>" in page
    assert reverse("admin:index") not in page
    assert "¥1,200.00" in page  # the example principal
    assert not re.search(r"¥\d{4}", page)
