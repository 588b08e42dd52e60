"""Issue 19 item 4, offers on one page: sent terms are previewed terms (the service checks the preview's
hash), a waiver above the penalty is refused with the figures, presets, the facts beside the terms, the
approver's evidence, the queue's defaults and search, and what each staff group may do."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import StaffAction
from core.errors import ApplicationError
from installments.models import ContactLog, NegotiationApplication, NegotiationState
from installments.negotiation_review import working_days_between
from installments.services import (
    OfferPreset,
    OfferTerms,
    negotiation_make_offer,
    negotiation_offer_preset,
    negotiation_offer_preview,
    overdue_sweep,
    plan_create,
    rate_percent,
)
from repayments.staff import AGENT, APPROVER, LEAD
from tests.factories import StaffFactory
from tests.installments.negotiation_support import apply, send_offer

S = NegotiationState
TERMS = {"tenor": "24", "fee_rate_percent": "0.40", "penalty_waiver": "0", "first_due_date": "", "note": ""}


def url(name: str, application: NegotiationApplication) -> str:
    return reverse(f"admin:installments_negotiation_{name}", args=[application.pk])


def change_url(application: NegotiationApplication) -> str:
    return reverse("admin:installments_negotiationapplication_change", args=[application.pk])


QUEUE = reverse("admin:installments_negotiationapplication_changelist")


def page_hash(page: str) -> str:
    match = re.search(r'name="terms_hash" id="id_terms_hash" value="([0-9a-f]*)"', page)
    assert match
    return match.group(1)


def text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def lead(db):
    return StaffFactory(phone="+8613700000004", real_name="王组长", groups=[LEAD])


@pytest.fixture
def named_agent(db):
    return StaffFactory(phone="+8613700000005", real_name="李客服", groups=[AGENT])


# --- the service: sent terms are previewed terms --------------------------------------------------------


def test_sending_terms_other_than_the_previewed_ones_is_refused(late_plan, agent) -> None:
    """The review's bug: 24 previewed, 30 typed, "send" pressed: 30 were sent unseen."""
    application = apply(late_plan)
    seen = negotiation_offer_preview(
        application=application, terms=OfferTerms(24, Decimal("0.004"), Decimal("0"))
    )
    changed = OfferTerms(30, Decimal("0.004"), Decimal("0"))
    for stale in (seen.terms_hash, "", "0" * 64):
        with pytest.raises(ApplicationError) as exc:
            negotiation_make_offer(staff=agent, application=application, terms=changed, previewed_hash=stale)
        assert exc.value.code == "offer_terms_not_previewed"
    application.refresh_from_db()
    assert application.state == S.SUBMITTED
    assert application.offer_tenor is None
    assert not application.events.filter(action="offer_made").exists()
    # Previewed, the same terms go through; sending on a submitted application starts its review too.
    send_offer(agent, application, changed)
    application.refresh_from_db()
    assert application.offer_tenor == 30
    assert application.assigned_to == agent
    assert list(application.events.values_list("action", flat=True))[-2:] == ["review_started", "offer_made"]
    audit = StaffAction.objects.get(action="negotiation_offer_made")
    assert (audit.staff, audit.customer, audit.detail["tenor"]) == (agent, late_plan.customer, 30)


def test_the_hash_covers_terms_and_schedule(late_plan) -> None:
    application = apply(late_plan)
    terms = OfferTerms(12, Decimal("0.004"), Decimal("0"))
    first = negotiation_offer_preview(application=application, terms=terms).terms_hash
    assert first == negotiation_offer_preview(application=application, terms=terms).terms_hash
    assert (
        first
        == negotiation_offer_preview(
            application=application, terms=OfferTerms(12, Decimal("0.004000"), Decimal("0.00"))
        ).terms_hash
    )  # the same terms spelled differently
    others = {
        negotiation_offer_preview(application=application, terms=other).terms_hash
        for other in (
            OfferTerms(13, Decimal("0.004"), Decimal("0")),
            OfferTerms(12, Decimal("0.005"), Decimal("0")),
            OfferTerms(12, Decimal("0.004"), Decimal("1.00")),
            OfferTerms(12, Decimal("0.004"), Decimal("0"), timezone.localdate() + timedelta(days=40)),
        )
    }
    assert first not in others
    assert len(others) == 4
    # Tomorrow the same terms make another schedule (dates, penalty): the preview must be seen again.
    tomorrow = negotiation_offer_preview(
        application=application, terms=terms, today=timezone.localdate() + timedelta(days=1)
    )
    assert tomorrow.terms_hash != first


def test_a_waiver_above_the_penalty_is_refused_with_the_figures(late_plan, agent) -> None:
    application = apply(late_plan)
    penalty = negotiation_offer_preview(
        application=application, terms=OfferTerms(12, Decimal("0.004"), Decimal("0"))
    ).balance.penalties
    assert penalty > 0
    too_much = OfferTerms(12, Decimal("0.004"), Decimal("600.00"))
    with pytest.raises(ApplicationError) as exc:
        negotiation_offer_preview(application=application, terms=too_much)
    assert exc.value.code == "waiver_above_penalty"
    assert "¥600.00" in exc.value.message
    assert f"¥{penalty:,.2f}" in exc.value.message
    assert "penalty_waiver" in exc.value.fields
    with pytest.raises(ApplicationError) as exc:
        negotiation_make_offer(staff=agent, application=application, terms=too_much, previewed_hash="x")
    assert exc.value.code == "waiver_above_penalty"
    exact = negotiation_offer_preview(
        application=application, terms=OfferTerms(12, Decimal("0.004"), penalty)
    )
    assert exact.balance.waived_penalties == penalty


def test_presets(late_plan) -> None:
    application = apply(late_plan, affordable_payment="150.00")
    start = OfferTerms(12, Decimal("0.004"), Decimal("0"))
    fit = negotiation_offer_preset(application=application, terms=start, preset=OfferPreset.FIT_MONTHLY)
    fitted = negotiation_offer_preview(application=application, terms=fit)
    assert fitted.monthly_payment <= Decimal("150.00")
    if fit.tenor > 1:  # the fewest installments that fit: one fewer does not
        shorter = negotiation_offer_preview(
            application=application, terms=OfferTerms(fit.tenor - 1, fit.fee_rate, fit.penalty_waiver)
        )
        assert shorter.monthly_payment > Decimal("150.00")
    wider = negotiation_offer_preset(
        application=application, terms=start, preset=OfferPreset.FIT_MONTHLY, monthly_limit=Decimal("400")
    )
    assert wider.tenor <= fit.tenor

    end = late_plan.installments.order_by("-sequence").first().due_date
    same = negotiation_offer_preset(application=application, terms=start, preset=OfferPreset.SAME_END_DATE)
    rows = negotiation_offer_preview(application=application, terms=same).schedule.rows
    assert rows[-1].due_date <= end
    assert same.tenor >= 1

    waive = negotiation_offer_preset(
        application=application, terms=start, preset=OfferPreset.WAIVE_ALL_PENALTY
    )
    preview = negotiation_offer_preview(application=application, terms=waive)
    assert waive.penalty_waiver == preview.balance.penalties > 0

    no_word = apply_again(late_plan)
    with pytest.raises(ApplicationError) as exc:
        negotiation_offer_preset(application=no_word, terms=start, preset=OfferPreset.FIT_MONTHLY)
    assert "monthly_limit" in exc.value.fields


def apply_again(plan) -> NegotiationApplication:
    application = NegotiationApplication.objects.get(plan=plan)
    application.affordable_monthly_payment = None
    return application


def test_fee_rate_as_a_percentage() -> None:
    assert rate_percent(Decimal("0.006")) == "0.60 %"
    assert rate_percent(Decimal("0.006000")) == "0.60 %"
    assert rate_percent(Decimal("0.00625")) == "0.625 %"
    assert rate_percent(None) == ""


def test_working_days() -> None:
    friday = date(2026, 11, 27)
    assert friday.weekday() == 4
    assert working_days_between(friday, friday + timedelta(days=3)) == 1  # Sat, Sun, Mon
    assert working_days_between(friday, friday + timedelta(days=7)) == 5
    assert working_days_between(friday, friday) == 0


# --- the offer page ---------------------------------------------------------------------------------


def test_queue_to_sent_offer_in_three_page_loads(client, agent, late_plan) -> None:
    """Queue -> offer page (facts, default terms, their preview) -> send: three pages, one click each."""
    application = apply(late_plan, requested_tenor=12)
    client.force_login(agent)
    loads = 0

    queue = client.get(QUEUE)
    loads += 1
    offer_link = url("offer", application)
    assert offer_link in queue.content.decode()

    page = client.get(offer_link)
    loads += 1
    assert page.status_code == 200
    assert 'id="offer-preview"' in page.content.decode()
    terms = {"tenor": "12", "fee_rate_percent": page.context["form"]["fee_rate_percent"].value()}
    sent = client.post(
        offer_link,
        {
            **terms,
            "penalty_waiver": "0.00",
            "note": "",
            "send": "1",
            "terms_hash": page_hash(page.content.decode()),
        },
        follow=True,
    )
    loads += 1
    assert len(sent.redirect_chain) == 1  # the POST answers with the application page
    assert loads <= 3
    application.refresh_from_db()
    assert application.state == S.OFFERED
    assert application.assigned_to == agent
    assert application.offer_fee_rate == late_plan.product.restage_fee_rate


def test_changed_terms_are_refused_on_send_until_previewed(client, agent, late_plan) -> None:
    application = apply(late_plan)
    client.force_login(agent)
    seen = client.post(url("offer", application), {**TERMS, "preview": "1"}).content.decode()
    assert 'id="preview-tenor">24<' in seen
    # Changed to 30 with the 24's hash (no new preview): refused, shown with the new preview.
    refused = client.post(
        url("offer", application),
        {**TERMS, "tenor": "30", "send": "1", "terms_hash": page_hash(seen)},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    page = refused.content.decode()
    assert refused.status_code == 200
    assert "not the ones last previewed" in page
    assert 'id="preview-tenor">30<' in page
    application.refresh_from_db()
    assert application.state == S.SUBMITTED
    assert application.offer_tenor is None
    # Sent again from that page (its hash is the 30's preview): it goes.
    again = client.post(
        url("offer", application), {**TERMS, "tenor": "30", "send": "1", "terms_hash": page_hash(page)}
    )
    assert again.status_code == 302
    application.refresh_from_db()
    assert application.offer_tenor == 30
    assert application.state == S.OFFER_PENDING_APPROVAL  # 30 > 24: maker-checker


def test_preview_endpoint_returns_the_schedule_fragment(client, agent, late_plan) -> None:
    application = apply(late_plan)
    client.force_login(agent)
    fragment = client.post(url("offer_preview", application), {**TERMS, "tenor": "6"})
    body = fragment.content.decode()
    assert fragment.status_code == 200
    assert body.lstrip().startswith("<div")
    assert "<html" not in body
    assert 'id="preview-tenor">6<' in body
    terms_hash = re.search(r'data-terms-hash="([0-9a-f]+)"', body).group(1)
    expected = negotiation_offer_preview(
        application=application, terms=OfferTerms(6, Decimal("0.004"), Decimal("0"))
    ).terms_hash
    assert terms_hash == expected
    bad = client.post(url("offer_preview", application), {**TERMS, "penalty_waiver": "600"}).content.decode()
    assert 'data-terms-hash=""' in bad
    assert "¥600.00" in html.unescape(bad)
    assert client.get(url("offer_preview", application)).status_code == 405


def test_offer_page_shows_the_facts_and_the_rate_in_percent(client, named_agent, late_plan) -> None:
    application = apply(late_plan, affordable_payment="321.00", monthly_income="6543.21")
    late_plan.customer.language = "en"
    late_plan.customer.save(update_fields=["language"])
    ContactLog.objects.create(
        customer=late_plan.customer,
        application=application,
        staff=named_agent,
        channel="call_in",
        outcome="promise_to_pay",
        promise_to_pay_date=timezone.localdate() + timedelta(days=3),
        promise_amount=Decimal("88.00"),
        notes="will pay on Friday",
    )
    client.force_login(named_agent)
    page = text(client.get(url("offer", application), HTTP_ACCEPT_LANGUAGE="en"))
    facts = client.get(url("offer", application)).context["facts"]
    for shown in (
        "¥321.00",
        "¥6,543.21",
        f"¥{facts.overdue_amount:,.2f}",
        f"¥{facts.penalty_accrued:,.2f}",
        f"¥{facts.payoff:,.2f}",
        f"{late_plan.days_past_due} ({late_plan.delinquency_bucket})",
        "payslip.pdf",
        reverse("installments:negotiation_document", args=[application.documents.get().public_id]),
        "will pay on Friday",
        "¥88.00",
        "English",
    ):
        assert shown in page, shown
    assert facts.overdue_amount > 0
    assert facts.penalty_accrued > 0
    assert facts.payoff > facts.overdue_amount
    assert f"{rate_percent(late_plan.product.restage_fee_rate)} a month" in page  # 0.40 %, not 0.004000
    # The rate typed as a percentage is stored as the fraction.
    send = client.post(
        url("offer", application), {**TERMS, "tenor": "12", "fee_rate_percent": "0.45", "preview": "1"}
    )
    assert "0.45 %" in text(send)
    client.post(
        url("offer", application),
        {
            **TERMS,
            "tenor": "12",
            "fee_rate_percent": "0.45",
            "send": "1",
            "terms_hash": page_hash(send.content.decode()),
        },
    )
    application.refresh_from_db()
    assert application.offer_fee_rate == Decimal("0.004500")


def test_presets_on_the_page(client, agent, late_plan) -> None:
    application = apply(late_plan, affordable_payment="150.00")
    client.force_login(agent)
    fit = client.post(url("offer", application), {**TERMS, "monthly_limit": "150.00", "preset": "fit"})
    preview = fit.context["preview"]
    assert preview.monthly_payment <= Decimal("150.00")
    assert fit.context["form"]["tenor"].value() == str(preview.terms.tenor)
    waive = client.post(url("offer", application), {**TERMS, "preset": "waive_all"})
    assert waive.context["preview"].balance.waived_penalties == waive.context["preview"].balance.penalties > 0
    same = client.post(url("offer", application), {**TERMS, "preset": "same_end"})
    end = late_plan.installments.order_by("-sequence").first().due_date
    assert same.context["preview"].schedule.rows[-1].due_date <= end
    application.refresh_from_db()
    assert application.state == S.SUBMITTED  # presets never send


def test_waiver_above_penalty_on_the_page(client, agent, late_plan) -> None:
    application = apply(late_plan)
    client.force_login(agent)
    page = text(
        client.post(
            url("offer", application),
            {**TERMS, "penalty_waiver": "600", "preview": "1"},
            HTTP_ACCEPT_LANGUAGE="en",
        )
    )
    assert re.search(r"The waiver ¥600\.00 is above the penalty ¥[\d,]+\.\d\d", page)
    assert 'id="offer-send"' in page
    assert "disabled" in page.split('id="offer-send"')[1][:120]


# --- the application page ---------------------------------------------------------------------------


def test_application_page_reads_in_words(client, named_agent, late_plan) -> None:
    application = apply(late_plan, monthly_income="6543.21")
    client.force_login(named_agent)
    client.post(url("review", application))
    page = text(client.get(change_url(application), HTTP_ACCEPT_LANGUAGE="en"))
    assert "¥6,543.21" in page
    assert "Overdue amount" in page
    assert "Penalty accrued" in page
    assert "Past payments" in page
    assert "Started the review" in page
    assert "submitted → in review" in page
    for raw in ("submitted: -> submitted", "ACTOR", "Public id", "review_started", "in_review"):
        assert raw not in page, raw
    assert "李客服" in page  # the handler's name in full, to staff
    assert ">Offer<" not in page  # no empty offer block before an offer
    send_offer(named_agent, application)
    assert ">Offer<" in text(client.get(change_url(application), HTTP_ACCEPT_LANGUAGE="en"))


# --- the approver's page ----------------------------------------------------------------------------


def test_approver_sees_the_evidence_and_cannot_approve_their_own(client, agent, approver, late_plan) -> None:
    application = apply(late_plan, monthly_income="6000.00")
    penalty = negotiation_offer_preview(
        application=application, terms=OfferTerms(12, Decimal("0.004"), Decimal("0"))
    ).balance.penalties
    send_offer(approver, application, OfferTerms(30, Decimal("0.004"), penalty))
    application.refresh_from_db()
    assert application.state == S.OFFER_PENDING_APPROVAL
    client.force_login(approver)
    own = client.get(url("approve", application), HTTP_ACCEPT_LANGUAGE="en")
    assert "another approver must approve it" in text(own)
    assert "Approve and send the offer" not in text(own).split('id="content-main"')[1].split("<form")[1]
    assert client.post(url("approve", application)).status_code == 200
    application.refresh_from_db()
    assert application.state == S.OFFER_PENDING_APPROVAL

    other = StaffFactory(phone="+8613700000006", groups=[APPROVER])
    client.force_login(other)
    page = text(client.get(url("approve", application), HTTP_ACCEPT_LANGUAGE="en"))
    assert page.count("<tr><td>") >= 30  # the full schedule (30 rows) is on the page
    share = (application.offer_monthly_payment * 100 / Decimal("6000.00")).quantize(Decimal("0.1"))
    assert f"{share}%" in page
    assert f"¥{penalty:,.2f} of ¥{penalty:,.2f} accrued when offered" in page
    assert "payslip.pdf" in page
    assert "Share of declared income" in page
    assert client.post(url("approve", application)).status_code == 302
    application.refresh_from_db()
    assert application.state == S.OFFERED
    assert application.approved_by == other
    assert StaffAction.objects.filter(staff=other, action="negotiation_offer_approved").exists()


# --- the queue ---------------------------------------------------------------------------------------


def test_queue_defaults_open_oldest_mine_and_searches(client, agent, approver, late_plan, customer) -> None:
    mine = apply(late_plan)
    client.force_login(agent)
    client.post(url("review", mine))
    other_plan = _another_late_plan(late_plan)
    theirs = NegotiationApplication.objects.create(
        customer=late_plan.customer, plan=other_plan, reason="illness", declared_monthly_income=Decimal("1"),
        requested_tenor=6, assigned_to=approver, state=S.IN_REVIEW,
    )  # fmt: skip
    NegotiationApplication.objects.filter(pk=theirs.pk).update(created_at=timezone.now() - timedelta(days=9))

    page = text(client.get(QUEUE, HTTP_ACCEPT_LANGUAGE="en"))
    assert change_url(mine) in page
    assert change_url(theirs) not in page  # someone else's: not in "mine and unassigned"
    team = text(client.get(QUEUE + "?handler=team", HTTP_ACCEPT_LANGUAGE="en"))
    assert change_url(theirs) in team
    assert team.index(change_url(theirs)) < team.index(change_url(mine))  # oldest first
    assert "9 days" in team
    assert "past the promised 3 working days" in team
    mine.state = S.REJECTED
    mine.save(update_fields=["state"])
    assert change_url(mine) not in text(client.get(QUEUE))  # open only by default
    assert change_url(mine) in text(client.get(QUEUE + "?queue=all"))
    mine.state = S.IN_REVIEW
    mine.save(update_fields=["state"])

    phone = str(late_plan.customer.phone)  # +86138...
    local = phone[3:]
    spellings = [local, f"{local[:3]} {local[3:7]} {local[7:]}", f"+86-{local}", local[-4:]]
    ids = [str(mine.public_id), mine.public_id.hex[-8:], str(mine.pk)]
    for term in [*spellings, late_plan.customer.real_name, *ids]:
        found = text(client.get(QUEUE, {"q": term, "handler": "team"}))
        assert change_url(mine) in found, term
    nobody = text(client.get(QUEUE, {"q": "+8613999999999", "handler": "team"}))
    assert change_url(mine) not in nobody


def test_an_approver_sees_offers_waiting_for_them_by_default(client, agent, approver, late_plan) -> None:
    application = apply(late_plan)
    send_offer(agent, application, OfferTerms(30, Decimal("0.004"), Decimal("0")))
    application.refresh_from_db()
    assert application.state == S.OFFER_PENDING_APPROVAL
    assert application.assigned_to == agent
    client.force_login(approver)
    assert url("approve", application) in text(client.get(QUEUE))
    client.force_login(StaffFactory(groups=[AGENT]))
    assert change_url(application) not in text(client.get(QUEUE))  # another agent's: the team's view


def _another_late_plan(plan):
    other = plan_create(
        customer=plan.customer,
        product=plan.product,
        principal=Decimal("600.00"),
        tenor=6,
        purchase_date=timezone.localdate() - timedelta(days=70),
    )
    overdue_sweep(as_of=timezone.localdate())
    return other


def test_labels_not_codes_in_the_queue_filters(client, agent, late_plan) -> None:
    apply(late_plan)
    client.force_login(agent)
    page = text(client.get(QUEUE, HTTP_ACCEPT_LANGUAGE="en"))
    for raw in ("offer_pending_approval", "info_requested", "income_drop", "job_loss"):
        assert f">{raw}<" not in page
    assert "mine and unassigned" in page
    assert "the team" in page


# --- what each group may do --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("group", "can_offer", "can_approve"),
    [(AGENT, True, False), (APPROVER, True, True), (LEAD, True, True)],
)
def test_group_permissions(client, late_plan, agent, group, can_offer, can_approve) -> None:
    user = StaffFactory(groups=[group])
    application = apply(late_plan)
    client.force_login(user)
    offer_page = client.get(url("offer", application))
    assert (offer_page.status_code == 200) is can_offer
    # A held offer by someone else (the agent), then the approval page for this user.
    send_offer(agent, application, OfferTerms(30, Decimal("0.004"), Decimal("0")))
    assert client.get(url("approve", application)).status_code == (200 if can_approve else 403)
    response = client.post(url("approve", application))
    application.refresh_from_db()
    if can_approve:
        assert response.status_code == 302
        assert application.state == S.OFFERED
    else:
        assert response.status_code == 403
        assert application.state == S.OFFER_PENDING_APPROVAL


def test_staff_outside_the_groups_get_nothing(client, late_plan) -> None:
    application = apply(late_plan)
    client.force_login(StaffFactory())
    assert client.get(url("offer", application)).status_code == 403
    assert client.post(url("offer_preview", application), TERMS).status_code == 403


def test_a_customer_cannot_reach_the_offer_page(late_plan) -> None:
    application = apply(late_plan)
    browser = Client()
    browser.force_login(late_plan.customer)
    response = browser.get(url("offer", application))
    assert response.status_code == 302  # to the admin sign-in


@pytest.mark.parametrize("moment", ["2026-11-30 10:00"])
def test_waiting_time_against_the_promise(client, agent, late_plan, moment) -> None:
    with time_machine.travel(timezone.make_aware(timezone.datetime.fromisoformat(moment)), tick=False):
        application = apply(late_plan)
    submitted_monday = timezone.localtime(application.created_at).date()
    with time_machine.travel(timezone.make_aware(timezone.datetime(2026, 12, 3, 10)), tick=False):
        client.force_login(agent)
        page = text(client.get(QUEUE, HTTP_ACCEPT_LANGUAGE="en"))
        assert "3 of 3 working days" in page
        assert "past the promised" not in page
    with time_machine.travel(timezone.make_aware(timezone.datetime(2026, 12, 4, 10)), tick=False):
        page = text(client.get(QUEUE, HTTP_ACCEPT_LANGUAGE="en"))
        assert "4 of 3 working days" in page
        assert "past the promised 3 working days" in page
    assert submitted_monday.weekday() == 0
