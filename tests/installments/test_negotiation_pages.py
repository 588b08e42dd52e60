"""协商还款 on the web (issue 18, items 7 and 9): eligibility before the form, "what can you pay each
month", files kept across form errors, the status page's labels, timeline and next step, the offer's
figures, auto-debit with one tick, and declining only after a confirmation."""

from __future__ import annotations

import re
from decimal import Decimal

from django.core.cache import cache
from django.urls import reverse

from accounts.services import language_set
from installments.models import NegotiationApplication, NegotiationState
from installments.schedules import FeeMethod, build_schedule
from installments.services import negotiation_documents_held
from repayments.models import AutoDebitMandate
from tests.installments.negotiation_support import apply, offered, upload


def text(response) -> str:
    return response.content.decode()


FORM = {
    "reason": "income_drop",
    "monthly_income": "6000",
    "affordable_payment": "300",
    "requested_tenor": "12",
    "employer": "某公司",
}


# --- applying -----------------------------------------------------------------------------------------


def test_a_plan_that_is_not_overdue_gets_the_reason_and_no_form(signed_in, current_plan) -> None:
    url = reverse("installments:negotiate", args=[current_plan.public_id])
    page = text(signed_in.get(url))
    assert 'data-reason="not_overdue"' in page
    assert 'name="monthly_income"' not in page
    assert reverse("installments:restage", args=[current_plan.public_id]) in page  # the alternative
    assert signed_in.post(url, FORM).status_code == 200
    assert not NegotiationApplication.objects.exists()


def test_an_open_application_is_linked_instead_of_a_second_form(signed_in, late_plan) -> None:
    application = apply(late_plan)
    page = text(signed_in.get(reverse("installments:negotiate", args=[late_plan.public_id])))
    assert 'data-reason="already_open"' in page
    assert reverse("installments:negotiation", args=[application.public_id]) in page
    assert 'name="monthly_income"' not in page


def test_no_reason_is_preselected_and_affordability_is_asked(signed_in, late_plan) -> None:
    page = text(signed_in.get(reverse("installments:negotiate", args=[late_plan.public_id])))
    assert '<option value="" selected>' in page
    assert 'name="affordable_payment"' in page
    response = signed_in.post(
        reverse("installments:negotiate", args=[late_plan.public_id]), {**FORM, "reason": ""}
    )
    assert response.status_code == 200
    assert not NegotiationApplication.objects.exists()


def test_files_are_kept_across_a_form_error(signed_in, customer, late_plan, other_customer) -> None:
    url = reverse("installments:negotiate", args=[late_plan.public_id])
    first = signed_in.post(url, {**FORM, "monthly_income": "", "documents": [upload("payslip.pdf")]})
    assert first.status_code == 200
    page = text(first)
    assert 'id="held-documents"' in page
    assert "payslip.pdf" in page
    token = page.split('name="held" value="')[1].split('"')[0]
    assert not NegotiationApplication.objects.exists()
    # Corrected and sent again without picking the file: the application has it.
    second = signed_in.post(url, {**FORM, "held": token})
    assert second.status_code == 302
    application = NegotiationApplication.objects.get()
    assert [d.original_name for d in application.documents.all()] == ["payslip.pdf"]
    assert application.affordable_monthly_payment == Decimal("300.00")
    # The held copy is gone once stored; a token is only its customer's.
    assert cache.get(f"negotiation-hold:{customer.pk}:{token}") is None
    assert negotiation_documents_held(customer=other_customer, tokens=[token]) == []


def test_a_bad_file_is_named_and_the_good_one_kept(signed_in, late_plan) -> None:
    url = reverse("installments:negotiate", args=[late_plan.public_id])
    page = text(
        signed_in.post(
            url, {**FORM, "documents": [upload("payslip.pdf"), upload("virus.pdf", b"MZ not a pdf")]}
        )
    )
    assert "virus.pdf" in page
    assert 'class="error"' in page
    assert page.count('name="held"') == 1
    assert not NegotiationApplication.objects.exists()


def test_the_admin_shows_what_the_customer_can_pay(client, agent, late_plan) -> None:
    application = apply(late_plan, affordable_payment="450")
    client.force_login(agent)
    page = text(
        client.get(reverse("admin:installments_negotiationapplication_change", args=[application.pk]))
    )
    assert "450.00" in page


# --- status -------------------------------------------------------------------------------------------


def test_status_page_speaks_plainly_with_a_timeline_and_the_next_step(signed_in, late_plan, agent) -> None:
    language_set(user=late_plan.customer, language="en")  # the account's language decides the page
    application = apply(late_plan)
    url = reverse("installments:negotiation", args=[application.public_id])
    page = text(signed_in.get(url))
    assert "Received, waiting for review" in page
    assert ">submitted<" not in page
    assert 'id="negotiation-next"' in page
    timeline = page.split('id="negotiation-timeline"')[1].split("</section>")[0]
    assert timeline.count("<time") == 1  # submitted only
    offered(application, agent)
    page = text(signed_in.get(url))
    assert "Offer waiting for your answer" in page
    assert "offer sent<" not in page
    timeline = page.split('id="negotiation-timeline"')[1].split("</section>")[0]
    assert timeline.count("<time") == 3  # submitted, in review, offer sent
    assert 'data-step="offered" aria-current="step"' in timeline
    assert 'data-step="answer"' in timeline


def test_the_plan_page_and_my_account_link_the_application(signed_in, late_plan, agent) -> None:
    application = apply(late_plan)
    link = reverse("installments:negotiation", args=[application.public_id])
    plan_page = text(signed_in.get(reverse("repayments:plan", args=[late_plan.public_id])))
    assert 'id="plan-negotiation"' in plan_page
    assert link in plan_page
    # While one is open the plan page does not offer a second application.
    assert reverse("installments:negotiate", args=[late_plan.public_id]) not in plan_page
    assert link in text(signed_in.get(reverse("repayments:account")))


# --- the offer ----------------------------------------------------------------------------------------


def test_offer_shows_first_usual_last_and_totals_from_the_schedule(signed_in, late_plan, agent) -> None:
    application = offered(apply(late_plan), agent, tenor=7)
    application.refresh_from_db()
    page = text(signed_in.get(reverse("installments:negotiation", args=[application.public_id])))
    rows = page.split('id="offer-schedule"')[1].split("</table>")[0]
    amounts = re.findall(r"<td[^>]*>(.*?)</td>", rows)[2::3]
    assert len(amounts) == 7
    first = page.split('id="offer-first">')[1].split(" ·")[0]
    usual = page.split('id="offer-usual">')[1].split("<")[0]
    last = page.split('id="offer-last">')[1].split("<")[0]
    assert (first, last) == (amounts[0], amounts[-1])
    assert usual == max(set(amounts), key=amounts.count)
    # The same figures by hand: the schedule the offer stands for.
    schedule = build_schedule(
        fee_method=FeeMethod.FLAT_FEE,
        principal=application.offer_principal,
        tenor=7,
        rate=application.offer_fee_rate,
        purchase_date=application.offered_at.date(),
        first_due_date=application.offer_first_due_date,
    )
    assert amounts == [f"¥{row.total:,.2f}" for row in schedule.rows]
    assert page.split('id="offer-total">')[1].split("<")[0] == f"¥{schedule.total_repayment:,.2f}"
    keep = sum((i.outstanding for i in late_plan.installments.all() if i.outstanding > 0), Decimal("0"))
    assert page.split('id="offer-keep-total">')[1].split("<")[0] == f"¥{keep:,.2f}"


def test_accepting_with_the_tick_turns_auto_debit_on(signed_in, late_plan, agent, card, codes) -> None:
    application = offered(apply(late_plan), agent)
    url = reverse("installments:negotiation", args=[application.public_id])
    tick = text(signed_in.get(url)).split('name="autodebit"')[1].split(">")[0]
    assert "checked" in tick  # on by default: the customer has a bound card
    signed_in.post(url, {"action": "send_code", "autodebit": "on"})
    response = signed_in.post(url, {"action": "accept", "code": codes.codes[-1], "autodebit": "on"})
    assert response.status_code == 302
    application.refresh_from_db()
    mandate = AutoDebitMandate.objects.get(plan=application.result_plan)
    assert mandate.enabled
    assert mandate.card_id == card.pk


def test_accepting_without_the_tick_leaves_auto_debit_off(signed_in, late_plan, agent, card, codes) -> None:
    application = offered(apply(late_plan), agent)
    url = reverse("installments:negotiation", args=[application.public_id])
    signed_in.post(url, {"action": "send_code"})
    assert signed_in.post(url, {"action": "accept", "code": codes.codes[-1]}).status_code == 302
    application.refresh_from_db()
    assert not AutoDebitMandate.objects.filter(plan=application.result_plan, enabled=True).exists()


def test_decline_asks_for_confirmation_first(signed_in, late_plan, agent) -> None:
    language_set(user=late_plan.customer, language="en")
    application = offered(apply(late_plan), agent)
    url = reverse("installments:negotiation", args=[application.public_id])
    page = text(signed_in.post(url, {"action": "decline"}))
    application.refresh_from_db()
    assert application.state == NegotiationState.OFFERED
    assert 'id="decline-confirm"' in page
    assert 'value="decline_confirm"' in page
    # Without the confirmation field nothing happens either.
    signed_in.post(url, {"action": "decline_confirm"})
    application.refresh_from_db()
    assert application.state == NegotiationState.OFFERED
    assert signed_in.post(url, {"action": "decline_confirm", "confirm": "yes"}).status_code == 302
    application.refresh_from_db()
    assert application.state == NegotiationState.DECLINED
    page = text(signed_in.get(url))
    assert "You declined the offer" in page


def test_send_code_on_the_offer_keeps_the_tick_and_stays_on_the_page(
    signed_in, late_plan, agent, card, codes
) -> None:
    application = offered(apply(late_plan), agent)
    url = reverse("installments:negotiation", args=[application.public_id])
    response = signed_in.post(url, {"action": "send_code"})  # the tick was taken off
    assert response.status_code == 200
    page = text(response)
    assert len(codes.codes) == 1
    tick = page.split('name="autodebit"')[1].split(">")[0]
    assert "checked" not in tick
    assert "data-sent" in page
    assert "#code-field" in page
