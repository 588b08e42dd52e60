"""Customer pages: 我的账户, 我的账单, plan detail with 设置自动扣款, 立即还款, 银行卡管理 and 还款记录.

Views parse input, call one service or selector and render; every object is looked up through the
signed-in customer, so another customer's id is a 404.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.http import AuthenticatedHttpRequest
from accounts.models import OtpPurpose
from accounts.services import otp_request
from accounts.sms_code import is_send_code, send_code, sent_code_json, wants_json
from core.errors import ApplicationError
from core.ids import short_ref
from core.money import is_money_text
from core.web import apply_errors
from installments.models import InstallmentPlan
from installments.selectors import plan_for_customer, plan_late_cost, plan_negotiation
from installments.services import restage_refusals
from repayments.failures import nothing_to_pay_steps, payment_next_steps
from repayments.forms import (
    ONE_TIME,
    AutoDebitForm,
    CardBindForm,
    CardUnbindForm,
    OneTimeCardForm,
    PayForm,
    RecordsFilterForm,
)
from repayments.labels import failure_reason
from repayments.models import BankCard, CardStatus, Repayment, RepaymentChannel, RepaymentStatus
from repayments.selectors import (
    account_overview,
    card_autodebit_plans,
    card_shortfalls,
    customer_bills,
    customer_records,
    payment_card,
    plan_autodebit_card_id,
    plan_balance,
    plan_page,
)
from repayments.services import (
    OneTimeCard,
    autodebit_set,
    card_bind,
    card_set_default,
    card_unbind,
    repayment_cancel,
    repayment_check,
    repayment_create,
)


def _active_cards(request: AuthenticatedHttpRequest) -> list[BankCard]:
    return list(BankCard.objects.filter(customer=request.user, status=CardStatus.ACTIVE))


def _own_card(request: AuthenticatedHttpRequest, public_id: object) -> BankCard:
    return get_object_or_404(BankCard, customer=request.user, public_id=public_id, status=CardStatus.ACTIVE)


def _send_code(request: AuthenticatedHttpRequest, purpose: str) -> None:
    try:
        otp_request(user=request.user, purpose=purpose)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.info(
            request, _("A code was sent by SMS to %(phone)s.") % {"phone": request.user.masked_phone}
        )


# --- 我的账户 and 我的账单 ------------------------------------------------------------------------------


def _chart(months: list, peak: Decimal) -> list[dict]:
    """Bars of the six-month chart: each month's amount as a percentage of the largest (the bar's width).
    The template draws them as HTML, so month and amount are text a phone shows at a readable size."""
    return [
        {"percent": int(100 * month.amount / peak) if peak > 0 else 0, "month": month} for month in months
    ]


@login_required
@require_GET
def account(request: AuthenticatedHttpRequest) -> HttpResponse:
    overview = account_overview(customer=request.user)
    return render(
        request,
        "repayments/account.html",
        {
            "overview": overview,
            "bars": _chart(overview.months, overview.max_month),
            "shortfalls": card_shortfalls(bills=overview.bills),
        },
    )


@login_required
@require_GET
def bills(request: AuthenticatedHttpRequest) -> HttpResponse:
    return render(request, "repayments/bills.html", {"bills": customer_bills(customer=request.user)})


# --- plan detail and 设置自动扣款 -------------------------------------------------------------------------


@login_required
@require_GET
def plan_detail(request: AuthenticatedHttpRequest, public_id: uuid.UUID) -> HttpResponse:
    return _plan_detail(request, public_id)


def _plan_detail(
    request: AuthenticatedHttpRequest,
    public_id: uuid.UUID,
    *,
    initial: dict[str, object] | None = None,
    code_sent: bool = False,
) -> HttpResponse:
    """The plan page; after "发送验证码" it comes back with the auto-debit inputs as they were sent."""
    page = plan_page(customer=request.user, public_id=public_id)
    cards = _active_cards(request)
    mandate = page.bill.mandate
    form = AutoDebitForm(
        cards=cards,
        initial=initial
        or {"enabled": bool(mandate and mandate.enabled), "card": mandate.card_id if mandate else None},
    )
    return render(
        request,
        "repayments/plan_detail.html",
        {
            "page": page,
            "form": form,
            "cards": cards,
            "code_sent": code_sent,
            "restage_refusals": restage_refusals(page.plan),
            "negotiation": plan_negotiation(page.plan),
            "late_cost": plan_late_cost(page.plan),
        },
    )


@login_required
@require_POST
def plan_autodebit(request: AuthenticatedHttpRequest, public_id: uuid.UUID) -> HttpResponse:
    plan = plan_for_customer(customer=request.user, public_id=public_id)
    if is_send_code(request):
        sent = send_code(request, OtpPurpose.CHANGE_AUTODEBIT_CARD)
        if wants_json(request):
            return sent_code_json(request, sent)
        chosen = request.POST.get("card", "")
        card = next((c for c in _active_cards(request) if chosen.isdigit() and c.pk == int(chosen)), None)
        initial: dict[str, object] = {
            "enabled": request.POST.get("enabled") == "on",
            "card": card.pk if card else None,
        }
        return _plan_detail(request, plan.public_id, initial=initial, code_sent=sent.ok)
    cards = _active_cards(request)
    form = AutoDebitForm(request.POST, cards=cards)
    if form.is_valid():
        before = plan_autodebit_card_id(plan)
        try:
            mandate = autodebit_set(
                customer=request.user,
                plan=plan,
                enabled=form.cleaned_data["enabled"],
                card=form.cleaned_data["card"],
                otp_code=form.cleaned_data["code"],
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            if not mandate.enabled:
                messages.success(request, _("Auto-debit is off."))
            elif before not in (None, mandate.card_id):
                messages.success(request, _card_changed_message(mandate.card))
            else:
                messages.success(request, _("Auto-debit is on."))
    else:
        messages.error(request, _("Please check the auto-debit settings."))
    return redirect("repayments:plan", public_id=plan.public_id)


# --- 立即还款 ---------------------------------------------------------------------------------------------


def _pay_initial(request: AuthenticatedHttpRequest) -> dict[str, str]:
    """Choices a "next step" link fills in (``?mode=custom&card=<id>&amount=12.00``); the rules still decide
    on submit, so nothing here is trusted."""
    initial = {key: request.GET[key] for key in ("mode", "card") if request.GET.get(key)}
    if is_money_text(request.GET.get("amount", "")):
        initial["amount"] = request.GET["amount"]
    return initial


@login_required
@require_http_methods(["GET", "POST"])
def pay(request: AuthenticatedHttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """Three steps: choose (what, when, card) -> confirm (a one-time card's number is typed here) -> result.

    Step 1 is refused by ``repayment_check``, beside the field, before the confirmation page: the same rules
    as the API's and as ``repayment_create``'s, which applies them again under the plan lock. The
    confirmation carries a fresh idempotency key: submitting it twice pays once."""
    plan = plan_for_customer(customer=request.user, public_id=public_id)
    balance = plan_balance(plan)
    cards = _active_cards(request)
    step = request.POST.get("step")
    form = PayForm(
        request.POST if step else None, cards=cards, balance=balance, initial=_pay_initial(request)
    )
    context: dict[str, object] = {"plan": plan, "balance": balance, "form": form, "cards": cards}
    if balance.available <= 0:
        context["next_steps"] = nothing_to_pay_steps(plan)
        return render(request, "repayments/pay.html", context)
    if not step or not form.is_valid():
        return render(request, "repayments/pay.html", context)
    data = form.cleaned_data
    custom = data["amount"] if data["mode"] == "custom" else None
    try:
        card = (
            None if data["card"] == ONE_TIME else payment_card(customer=request.user, public_id=data["card"])
        )
        check = repayment_check(
            customer=request.user,
            plan=plan,
            mode=data["mode"],
            amount=custom,
            card=card,
            one_time=card is None,
            scheduled_for=data["scheduled_for"],
        )
    except ApplicationError as exc:
        apply_errors(form, exc)
        return render(request, "repayments/pay.html", context)
    one_time_form = OneTimeCardForm(request.POST if step == "confirm" else None) if card is None else None
    key = request.POST.get("key") or uuid.uuid4().hex
    context.update(
        amount=check.amount,
        scheduled_for=check.scheduled_for,
        runs_at=settings.SCHEDULED_PAYMENTS_FROM,
        card=card,
        one_time_form=one_time_form,
        key=key,
    )
    if step != "confirm":
        return render(request, "repayments/pay_confirm.html", context)
    if one_time_form is not None and not one_time_form.is_valid():
        return render(request, "repayments/pay_confirm.html", context)
    try:
        repayment = repayment_create(
            customer=request.user,
            plan=plan,
            mode=data["mode"],
            amount=custom,
            card=card,
            one_time_card=(
                OneTimeCard(
                    number=one_time_form.cleaned_data["number"],
                    holder_name=one_time_form.cleaned_data["holder_name"],
                )
                if one_time_form is not None
                else None
            ),
            scheduled_for=check.scheduled_for,
            channel=RepaymentChannel.WEB,
            idempotency_key=f"web:{key[:60]}",
        )
    except ApplicationError as exc:
        apply_errors(one_time_form or form, exc)
        if one_time_form is None:
            return render(request, "repayments/pay.html", context)
        return render(request, "repayments/pay_confirm.html", context)
    return redirect("repayments:repayment", public_id=repayment.public_id)


@login_required
@require_GET
def repayment_detail(request: AuthenticatedHttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """The result: what was paid and how it was applied; a scheduled payment's date and run time; a failed
    one's reason in the customer's words with the next steps that apply (never a dead end)."""
    repayment = (
        Repayment.objects.filter(customer=request.user, public_id=public_id)
        .select_related("plan", "card")
        .prefetch_related("allocations__installment")
        .first()
    )
    if repayment is None:
        raise Http404
    failed = repayment.status == RepaymentStatus.FAILED
    return render(
        request,
        "repayments/repayment.html",
        {
            "repayment": repayment,
            "balance": plan_balance(repayment.plan),
            "reason": failure_reason(repayment.failure_code) if failed else "",
            "next_steps": payment_next_steps(repayment, cards=_active_cards(request)) if failed else [],
            "runs_at": settings.SCHEDULED_PAYMENTS_FROM,
        },
    )


@login_required
@require_POST
def repayment_cancel_view(request: AuthenticatedHttpRequest, public_id: uuid.UUID) -> HttpResponse:
    repayment = get_object_or_404(Repayment, customer=request.user, public_id=public_id)
    try:
        repayment_cancel(customer=request.user, repayment=repayment)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("The scheduled payment is cancelled."))
    return redirect("repayments:repayment", public_id=repayment.public_id)


# --- 还款记录 ---------------------------------------------------------------------------------------------


@login_required
@require_GET
def records(request: AuthenticatedHttpRequest) -> HttpResponse:
    plans = list(request.user.plans.order_by("-created_at"))
    form = RecordsFilterForm(request.GET or None, plans=plans)
    plan_id = month = None
    if form.is_valid():
        plan_id = form.cleaned_data["plan"] or None
        month = form.cleaned_data["month"]
    rows = customer_records(customer=request.user, plan_public_id=plan_id, month=month)
    return render(request, "repayments/records.html", {"form": form, "rows": rows})


# --- 银行卡管理 -------------------------------------------------------------------------------------------


@login_required
@require_GET
def cards(request: AuthenticatedHttpRequest) -> HttpResponse:
    active = _active_cards(request)
    uses = card_autodebit_plans(customer=request.user)
    return render(
        request,
        "repayments/cards.html",
        {"cards": [(card, uses.get(card.pk, [])) for card in active]},
    )


@login_required
@require_http_methods(["GET", "POST"])
def card_bind_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    initial = {"holder_name": request.user.real_name, "reserved_phone": request.user.phone.national_number}
    if is_send_code(request):
        sent = send_code(request, OtpPurpose.BIND_CARD)
        if wants_json(request):
            return sent_code_json(request, sent)
        # Back with what was typed, unvalidated (no errors before "绑定"); the card number is never
        # echoed into a page (SecretTextInput): with the script it never leaves its box.
        kept = {k: request.POST.get(k, "") for k in ("holder_name", "reserved_phone")}
        form = CardBindForm(initial={**initial, **kept})
        return render(request, "repayments/card_bind.html", {"form": form, "code_sent": sent.ok})
    form = CardBindForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            card = card_bind(
                customer=request.user,
                number=data["number"],
                holder_name=data["holder_name"],
                reserved_phone=data["reserved_phone"],
                otp_code=data["code"],
            )
        except ApplicationError as exc:
            apply_errors(form, exc, rename={"otp": "code"})
        else:
            messages.success(request, _("Card %(card)s is bound.") % {"card": card})
            return redirect("repayments:cards")
    return render(request, "repayments/card_bind.html", {"form": form})


@login_required
@require_POST
def card_default(request: AuthenticatedHttpRequest, public_id: uuid.UUID) -> HttpResponse:
    card = _own_card(request, public_id)
    try:
        card_set_default(customer=request.user, card=card)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("%(card)s is now your default card.") % {"card": card})
    return redirect("repayments:cards")


@login_required
@require_http_methods(["GET", "POST"])
def card_unbind_view(request: AuthenticatedHttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """解绑 asks first: GET shows "Remove card ending 1234?" with the plans whose auto-debit it pays and,
    where another card exists, the card to move them to; only the POST removes. Moving auto-debits needs
    the SMS code of the auto-debit page (``change_autodebit_card``): "Send a code" asks for one and comes
    back here with the chosen card kept."""
    card = _own_card(request, public_id)
    others = [c for c in _active_cards(request) if c.pk != card.pk]
    plans = card_autodebit_plans(customer=request.user).get(card.pk, [])
    if is_send_code(request):
        # The same "发送验证码" button as every code field (_code_field.html): in the background with the
        # script, else back here with the chosen card kept.
        sent = send_code(request, OtpPurpose.CHANGE_AUTODEBIT_CARD)
        if wants_json(request):
            return sent_code_json(request, sent)
        form = CardUnbindForm(initial={"replacement": request.POST.get("replacement", "")})
        context = {"card": card, "others": others, "plans": plans, "form": form, "code_sent": sent.ok}
        return render(request, "repayments/card_unbind.html", context)
    form = CardUnbindForm(
        request.POST if request.method == "POST" else None,
        initial={"replacement": request.GET.get("replacement") or (others[0].public_id if others else None)},
    )
    context = {"card": card, "others": others, "plans": plans, "form": form}
    if request.method == "GET":
        return render(request, "repayments/card_unbind.html", context)
    if not form.is_valid():
        messages.error(request, _("No such card."))
        return render(request, "repayments/card_unbind.html", context)
    replacement_id = form.cleaned_data["replacement"]
    replacement = _own_card(request, replacement_id) if replacement_id and plans else None
    try:
        card_unbind(
            customer=request.user, card=card, replacement=replacement, otp_code=form.cleaned_data["code"]
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return render(request, "repayments/card_unbind.html", context)
    messages.success(request, _("%(card)s is removed.") % {"card": card})
    if replacement is not None:
        messages.success(request, _card_changed_message(replacement))
    return redirect("repayments:cards")


def _card_changed_message(card: BankCard) -> str:
    return _("Auto-debit card changed to card ending %(last4)s.") % {"last4": card.last4}


@login_required
@require_GET
def pay_link(request: AuthenticatedHttpRequest, ref: str) -> HttpResponse:
    """The short link of the payment-link SMS (/p/<short ref>/): one of the signed-in customer's plans, by
    the short ref the SMS names, opens on 立即还款. The link carries no secret (the page needs the sign-in);
    a ref that is not the customer's is a 404, like any other plan id."""
    plans = InstallmentPlan.objects.filter(customer=request.user)
    for public_id in plans.values_list("public_id", flat=True):
        if short_ref(public_id) == ref.lower():
            return redirect("repayments:pay", public_id)
    raise Http404
