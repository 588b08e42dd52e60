"""Customer pages: 我的账户, 我的账单, plan detail with 设置自动扣款, 立即还款, 银行卡管理 and 还款记录.

Views parse input, call one service or selector and render; every object is looked up through the
signed-in customer, so another customer's id is a 404.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.http import AuthenticatedHttpRequest
from accounts.models import OtpPurpose
from accounts.services import otp_request
from core.errors import ApplicationError
from core.web import apply_errors
from installments.selectors import plan_for_customer
from repayments.forms import (
    ONE_TIME,
    AutoDebitForm,
    CardBindForm,
    CardUnbindForm,
    OneTimeCardForm,
    PayForm,
    RecordsFilterForm,
)
from repayments.models import BankCard, CardStatus, Repayment, RepaymentChannel
from repayments.selectors import (
    PlanBalance,
    account_overview,
    card_autodebit_plans,
    card_shortfalls,
    customer_bills,
    customer_records,
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
    """Bars of the six-month chart as SVG coordinates (the template only draws them)."""
    bars = []
    for index, month in enumerate(months):
        height = int(80 * month.amount / peak) if peak > 0 else 0
        bars.append({"x": 10 + index * 48, "y": 90 - height, "height": height, "month": month})
    return bars


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
    page = plan_page(customer=request.user, public_id=public_id)
    cards = _active_cards(request)
    mandate = page.bill.mandate
    form = AutoDebitForm(
        cards=cards,
        initial={"enabled": bool(mandate and mandate.enabled), "card": mandate.card_id if mandate else None},
    )
    return render(request, "repayments/plan_detail.html", {"page": page, "form": form, "cards": cards})


@login_required
@require_POST
def plan_autodebit(request: AuthenticatedHttpRequest, public_id: uuid.UUID) -> HttpResponse:
    plan = plan_for_customer(customer=request.user, public_id=public_id)
    if "send_code" in request.POST:
        _send_code(request, OtpPurpose.CHANGE_AUTODEBIT_CARD)
        return redirect("repayments:plan", public_id=plan.public_id)
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


def _amount_for(form: PayForm, balance: PlanBalance) -> Decimal:
    mode = form.cleaned_data["mode"]
    if mode == "due_now":
        return balance.due_now_payable
    if mode == "payoff":
        return balance.payoff
    amount: Decimal = form.cleaned_data["amount"]  # a Decimal: PayForm.clean requires it in mode custom
    return amount


@login_required
@require_http_methods(["GET", "POST"])
def pay(request: AuthenticatedHttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """Three steps: choose (what, when, card) -> confirm (a one-time card's number is typed here) -> result.
    The confirmation carries a fresh idempotency key: submitting it twice pays once."""
    plan = plan_for_customer(customer=request.user, public_id=public_id)
    balance = plan_balance(plan)
    cards = _active_cards(request)
    step = request.POST.get("step")
    form = PayForm(request.POST if step else None, cards=cards)
    context = {"plan": plan, "balance": balance, "form": form, "cards": cards}
    if not step or not form.is_valid():
        return render(request, "repayments/pay.html", context)
    card_choice = form.cleaned_data["card"]
    one_time_form = (
        OneTimeCardForm(request.POST if step == "confirm" else None) if card_choice == ONE_TIME else None
    )
    card = None if card_choice == ONE_TIME else _own_card(request, card_choice)
    key = request.POST.get("key") or uuid.uuid4().hex
    context.update(amount=_amount_for(form, balance), card=card, one_time_form=one_time_form, key=key)
    if step != "confirm":
        return render(request, "repayments/pay_confirm.html", context)
    if one_time_form is not None and not one_time_form.is_valid():
        return render(request, "repayments/pay_confirm.html", context)
    try:
        repayment = repayment_create(
            customer=request.user,
            plan=plan,
            mode=form.cleaned_data["mode"],
            amount=form.cleaned_data["amount"] if form.cleaned_data["mode"] == "custom" else None,
            card=card,
            one_time_card=(
                OneTimeCard(
                    number=one_time_form.cleaned_data["number"],
                    holder_name=one_time_form.cleaned_data["holder_name"],
                )
                if one_time_form is not None
                else None
            ),
            scheduled_for=form.cleaned_data["scheduled_for"],
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
    repayment = (
        Repayment.objects.filter(customer=request.user, public_id=public_id)
        .select_related("plan", "card")
        .prefetch_related("allocations__installment")
        .first()
    )
    if repayment is None:
        raise Http404
    return render(
        request,
        "repayments/repayment.html",
        {"repayment": repayment, "balance": plan_balance(repayment.plan)},
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
    if request.method == "POST" and "send_code" in request.POST:
        _send_code(request, OtpPurpose.BIND_CARD)
        return redirect("repayments:card_bind")
    form = CardBindForm(
        request.POST if request.method == "POST" else None,
        initial={"holder_name": request.user.real_name, "reserved_phone": request.user.phone.national_number},
    )
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
    if request.method == "POST" and "send_code" in request.POST:
        _send_code(request, OtpPurpose.CHANGE_AUTODEBIT_CARD)
        chosen = request.POST.get("replacement", "")
        query = f"?{urlencode({'replacement': chosen})}" if chosen else ""
        return redirect(reverse("repayments:card_unbind", args=[card.public_id]) + query)
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
