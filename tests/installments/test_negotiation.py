"""协商还款: application, documents, review, maker-checker, offers, acceptance (ledger checked after each)."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path, PurePosixPath

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.models import OtpPurpose
from core.errors import ApplicationError
from installments.documents import DocumentError, clean_name
from installments.models import (
    ContactOutcome,
    CreditEvent,
    CreditEventKind,
    InstallmentPlan,
    InstallmentStatus,
    NegotiationApplication,
    NegotiationState,
    PlanKind,
    PlanStatus,
)
from installments.services import (
    OfferTerms,
    contact_log_create,
    negotiation_accept,
    negotiation_approve,
    negotiation_decline,
    negotiation_document_add,
    negotiation_offer_preview,
    negotiation_reject,
    negotiation_request_info,
    negotiation_resubmit,
    negotiation_return_offer,
    negotiation_start_review,
    negotiations_expire,
    overdue_sweep,
)
from installments.signals import plan_changed
from notifications.models import Notification
from tests.installments.negotiation_support import (
    JPEG,
    PDF,
    PNG,
    apply,
    offered,
    send_offer,
    staff_user,
    stored_files,
    upload,
)

S = NegotiationState


def unpaid(plan: InstallmentPlan) -> Decimal:
    return sum((i.outstanding for i in plan.installments.all()), Decimal("0.00"))


# --- applying -----------------------------------------------------------------------------------------


def test_apply_with_documents(late_plan) -> None:
    application = apply(
        late_plan, documents=[upload("工资单.pdf"), upload("id.jpg", JPEG), upload("a.png", PNG)]
    )
    assert application.state == S.SUBMITTED
    docs = list(application.documents.order_by("id"))
    assert [d.content_type for d in docs] == ["application/pdf", "image/jpeg", "image/png"]
    assert [d.original_name for d in docs] == ["工资单.pdf", "id.jpg", "a.png"]
    extension = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}
    for doc in docs:
        # Stored under a random name of ours with our extension, never the customer's name: the stored
        # name is checked for its shape (a random one can contain "a.png" by chance, so "the customer's
        # name is not a substring" was true only 15 runs in 16).
        stored = PurePosixPath(doc.file.name)
        assert stored.parent == PurePosixPath(f"negotiation/{application.public_id}")
        assert re.fullmatch(r"[0-9a-f]{32}", stored.stem), stored.name
        assert stored.suffix == extension[doc.content_type]
    assert application.events.filter(action="submitted").exists()
    assert Notification.objects.filter(template_code="negotiation_submitted").count() == 1


def test_apply_refusals(late_plan, current_plan, other_customer) -> None:
    with pytest.raises(ApplicationError) as exc:
        apply(current_plan)
    assert exc.value.code == "plan_not_overdue"
    with pytest.raises(ApplicationError) as exc:
        apply(late_plan, customer=other_customer)
    assert exc.value.code == "plan_not_found"
    assert exc.value.status == 404
    with pytest.raises(ApplicationError) as exc:
        apply(late_plan, reason="bored", requested_tenor=99, monthly_income="-5")
    assert exc.value.code == "invalid_application"
    assert set(exc.value.fields) == {"reason", "requested_tenor", "monthly_income"}
    apply(late_plan)
    with pytest.raises(ApplicationError) as exc:
        apply(late_plan)
    assert exc.value.code == "negotiation_already_open"
    assert exc.value.status == 409
    assert NegotiationApplication.objects.count() == 1


@pytest.mark.parametrize(
    ("name", "body", "code"),
    [
        ("payslip.pdf", b"GIF89a" + b"\x00" * 50, "unsupported_file_type"),
        ("payslip.pdf", b"#!/bin/sh\nrm -rf /\n", "unsupported_file_type"),
        ("payslip.pdf", PDF + b"<script>alert(1)</script>", "invalid_file"),
        ("photo.jpg", JPEG[:-2], "invalid_file"),
        ("photo.jpg", JPEG[:-2] + PDF, "invalid_file"),
        ("scan.png", PNG[:-12], "invalid_file"),
        ("..\\..\\boot.ini", PDF, "invalid_file_name"),
        (".htaccess", PDF, "invalid_file_name"),
        ("a\x00.pdf", PDF, "invalid_file_name"),
    ],
)
def test_bad_documents_are_refused_and_nothing_is_kept(late_plan, name, body, code) -> None:
    before = stored_files()
    with pytest.raises(ApplicationError) as exc:
        apply(late_plan, documents=[upload(), upload(name, body)])
    assert exc.value.code == code
    assert NegotiationApplication.objects.count() == 0
    assert stored_files() == before


@pytest.mark.parametrize(
    "name", ["../../etc/passwd.pdf", "/etc/passwd", "a/../../b.pdf", "..", "x\x1b.pdf", ""]
)
def test_path_traversal_names_are_refused(name) -> None:
    with pytest.raises(DocumentError) as exc:
        clean_name(name)
    assert exc.value.code == "invalid_file_name"


def test_a_traversal_name_never_reaches_the_file_system(late_plan) -> None:
    # Django's upload handling keeps only the base name; the stored path is ours either way.
    application = apply(late_plan, documents=[upload("../../../../tmp/evil.pdf")])
    document = application.documents.get()
    root = Path(settings.PRIVATE_MEDIA_ROOT).resolve()
    assert Path(document.file.path).resolve().is_relative_to(root)
    assert "evil" not in document.file.name
    assert ".." not in document.file.name


def test_oversize_and_too_many_documents(late_plan, settings) -> None:
    settings.NEGOTIATION_DOCUMENT_MAX_BYTES = 1024
    with pytest.raises(ApplicationError) as exc:
        apply(late_plan, documents=[upload(body=b"%PDF-1.4\n" + b"0" * 2000 + b"\n%%EOF\n")])
    assert exc.value.code == "file_too_large"
    with pytest.raises(ApplicationError) as exc:
        apply(late_plan, documents=[upload() for _ in range(6)])
    assert exc.value.code == "invalid_application"
    application = apply(late_plan, documents=[upload() for _ in range(5)])
    with pytest.raises(ApplicationError) as exc:
        negotiation_document_add(
            customer=late_plan.customer, application_id=application.public_id, upload=upload()
        )
    assert exc.value.code == "too_many_files"


def test_a_customer_cannot_touch_another_customers_application(late_plan, other_customer) -> None:
    application = apply(late_plan)
    with pytest.raises(ApplicationError) as exc:
        negotiation_document_add(
            customer=other_customer, application_id=application.public_id, upload=upload()
        )
    assert exc.value.status == 404
    with pytest.raises(ApplicationError) as exc:
        negotiation_decline(customer=other_customer, application_id=application.public_id)
    assert exc.value.status == 404


# --- review, offer, accept ----------------------------------------------------------------------------


def test_whole_flow_info_request_offer_accept(late_plan, agent, codes) -> None:
    customer = late_plan.customer
    application = apply(late_plan)
    negotiation_start_review(staff=agent, application=application)
    negotiation_request_info(staff=agent, application=application, message="请补充近三个月工资流水")
    assert application.state == S.INFO_REQUESTED
    assert Notification.objects.filter(template_code="negotiation_info_requested").count() == 1
    negotiation_document_add(
        customer=customer, application_id=application.public_id, upload=upload("流水.png", PNG)
    )
    negotiation_resubmit(customer=customer, application_id=application.public_id, note="已补充")
    application.refresh_from_db()
    assert application.state == S.SUBMITTED

    penalties = sum(i.penalty_due for i in late_plan.installments.all())
    assert penalties > 0
    before = unpaid(late_plan)
    offered(application, agent, penalty_waiver=penalties)
    application.refresh_from_db()
    assert application.state == S.OFFERED
    assert application.offer_expires_at > timezone.now()
    assert Notification.objects.filter(template_code="negotiation_offer").count() == 1

    new_plan = negotiation_accept(
        customer=customer,
        application_id=application.public_id,
        otp_code=codes.request(customer, OtpPurpose.ACCEPT_NEGOTIATION),
    )
    application.refresh_from_db()
    late_plan.refresh_from_db()
    assert application.state == S.ACCEPTED
    assert application.result_plan == new_plan
    assert new_plan.kind == PlanKind.NEGOTIATED
    assert new_plan.tenor == 12
    assert new_plan.principal == application.offer_principal
    assert late_plan.status == PlanStatus.RESTRUCTURED
    assert late_plan.delinquency_bucket == "M0"
    assert not late_plan.installments.filter(
        status__in=[InstallmentStatus.PENDING, InstallmentStatus.OVERDUE]
    )
    waived = sum(i.penalty_waived + i.fee_waived for i in late_plan.installments.all())
    assert before == new_plan.principal + waived
    assert CreditEvent.objects.filter(plan=late_plan, kind=CreditEventKind.RESTRUCTURED).exists()
    actions = list(application.events.values_list("action", flat=True))
    assert actions == [
        "submitted",
        "review_started",
        "info_requested",
        "document_added",
        "resubmitted",
        "review_started",
        "offer_made",
        "accepted",
    ]


def test_penalty_accrued_after_the_offer_is_waived_too(late_plan, agent, codes) -> None:
    application = apply(late_plan)
    offered(application, agent)
    application.refresh_from_db()
    overdue_sweep(as_of=timezone.localdate() + timedelta(days=2))
    late_plan.refresh_from_db()
    assert unpaid(late_plan) > application.offer_principal  # more penalty since the offer
    new_plan = negotiation_accept(
        customer=late_plan.customer,
        application_id=application.public_id,
        otp_code=codes.request(late_plan.customer, OtpPurpose.ACCEPT_NEGOTIATION),
    )
    assert new_plan.principal == application.offer_principal


def test_accept_is_atomic(late_plan, agent, codes) -> None:
    application = apply(late_plan)
    offered(application, agent)

    def explode(**kwargs) -> None:
        raise RuntimeError("injected half-way")

    plan_changed.connect(explode, dispatch_uid="test-explode")
    try:
        with pytest.raises(RuntimeError):
            negotiation_accept(
                customer=late_plan.customer,
                application_id=application.public_id,
                otp_code=codes.request(late_plan.customer, OtpPurpose.ACCEPT_NEGOTIATION),
            )
    finally:
        plan_changed.disconnect(dispatch_uid="test-explode")
    application.refresh_from_db()
    late_plan.refresh_from_db()
    assert application.state == S.OFFERED
    assert application.result_plan is None
    assert late_plan.status == PlanStatus.OVERDUE
    assert not late_plan.installments.filter(status=InstallmentStatus.RESTRUCTURED).exists()
    assert not late_plan.installments.filter(penalty_waived__gt=0).exists()
    assert not InstallmentPlan.objects.filter(source_plan=late_plan).exists()


def test_wrong_code_does_not_accept(late_plan, agent, codes) -> None:
    application = apply(late_plan)
    offered(application, agent)
    codes.request(late_plan.customer, OtpPurpose.ACCEPT_NEGOTIATION)
    with pytest.raises(ApplicationError):
        negotiation_accept(
            customer=late_plan.customer, application_id=application.public_id, otp_code="000000"
        )
    application.refresh_from_db()
    assert application.state == S.OFFERED


def test_expired_offers_cannot_be_accepted(late_plan, agent, codes) -> None:
    application = apply(late_plan)
    offered(application, agent)
    NegotiationApplication.objects.filter(pk=application.pk).update(
        offer_expires_at=timezone.now() - timedelta(minutes=1)
    )
    with pytest.raises(ApplicationError) as exc:
        negotiation_accept(
            customer=late_plan.customer,
            application_id=application.public_id,
            otp_code=codes.request(late_plan.customer, OtpPurpose.ACCEPT_NEGOTIATION),
        )
    assert exc.value.code == "offer_expired"
    assert negotiations_expire() == 1
    application.refresh_from_db()
    assert application.state == S.EXPIRED
    assert Notification.objects.filter(template_code="negotiation_expired").count() == 1
    with pytest.raises(ApplicationError) as exc:
        negotiation_accept(
            customer=late_plan.customer,
            application_id=application.public_id,
            otp_code=codes.request(late_plan.customer, OtpPurpose.ACCEPT_NEGOTIATION),
        )
    assert exc.value.code == "invalid_state"
    # The customer may apply again once the offer expired.
    assert apply(late_plan).state == S.SUBMITTED


def test_decline(late_plan, agent) -> None:
    application = apply(late_plan)
    offered(application, agent)
    negotiation_decline(customer=late_plan.customer, application_id=application.public_id)
    application.refresh_from_db()
    assert application.state == S.DECLINED
    late_plan.refresh_from_db()
    assert late_plan.status == PlanStatus.OVERDUE


def test_reject_with_reason(late_plan, agent) -> None:
    application = apply(late_plan)
    with pytest.raises(ApplicationError) as exc:
        negotiation_reject(staff=agent, application=application, reason="")
    assert exc.value.code == "reason_required"
    negotiation_reject(staff=agent, application=application, reason="income_not_verified", note="流水不符")
    assert application.state == S.REJECTED
    sms = Notification.objects.get(template_code="negotiation_rejected")
    assert "收入证明不足" in sms.text or "income could not be verified" in sms.text


# --- maker-checker ------------------------------------------------------------------------------------


def test_generous_offer_waits_for_a_second_person(late_plan, agent, approver, approver2) -> None:
    application = apply(late_plan)
    offered(application, approver, tenor=36)  # above the tenor threshold (24)
    assert application.state == S.OFFER_PENDING_APPROVAL
    assert "36" in application.offer_approval_reasons
    assert not Notification.objects.filter(template_code="negotiation_offer").exists()
    # The maker cannot approve their own offer, even holding the approver permission.
    with pytest.raises(ApplicationError) as exc:
        negotiation_approve(staff=approver, application=application)
    assert exc.value.code == "self_approval"
    # An agent without the approver permission cannot approve.
    with pytest.raises(ApplicationError) as exc:
        negotiation_approve(staff=agent, application=application)
    assert exc.value.code == "permission_denied"
    application.refresh_from_db()
    assert application.state == S.OFFER_PENDING_APPROVAL
    negotiation_approve(staff=approver2, application=application)
    application.refresh_from_db()
    assert application.state == S.OFFERED
    assert application.approved_by == approver2
    assert Notification.objects.filter(template_code="negotiation_offer").count() == 1


@pytest.mark.parametrize(
    "terms",
    [
        {"tenor": 30},
        {"fee_rate": Decimal("0.008")},
        {"penalty_waiver": "all"},  # every yuan accrued, above the ¥1.00 threshold set below
    ],
)
def test_each_threshold_needs_approval(late_plan, agent, settings, terms) -> None:
    settings.NEGOTIATION_APPROVAL_WAIVER_ABOVE = "1.00"
    application = apply(late_plan)
    if terms.get("penalty_waiver") == "all":
        terms = {
            "penalty_waiver": negotiation_offer_preview(
                application=application, terms=OfferTerms(12, Decimal("0.004"), Decimal("0"))
            ).balance.penalties
        }
    offered(application, agent, **terms)
    assert application.state == S.OFFER_PENDING_APPROVAL


def test_approver_can_send_an_offer_back(late_plan, agent, approver) -> None:
    application = apply(late_plan)
    offered(application, agent, tenor=36)
    with pytest.raises(ApplicationError):
        negotiation_return_offer(staff=approver, application=application, note="")
    negotiation_return_offer(staff=approver, application=application, note="期数过长")
    application.refresh_from_db()
    assert application.state == S.IN_REVIEW


def test_staff_without_permission_and_customers_are_refused(late_plan, customer) -> None:
    application = apply(late_plan)
    plain_staff = staff_user("+8613700000009")
    for user in (plain_staff, customer):
        with pytest.raises(ApplicationError) as exc:
            negotiation_start_review(staff=user, application=application)
        assert exc.value.code == "permission_denied"
        assert exc.value.status == 403


def test_invalid_state_moves_are_refused(late_plan, agent, approver2) -> None:
    application = apply(late_plan)
    negotiation_reject(staff=agent, application=application, reason="other")
    with pytest.raises(ApplicationError) as exc:
        send_offer(agent, application)
    assert exc.value.code == "invalid_state"
    with pytest.raises(ApplicationError) as exc:
        negotiation_approve(staff=approver2, application=application)
    assert exc.value.code == "invalid_state"


# --- offer terms and the preview ----------------------------------------------------------------------


def test_offer_preview_terms_and_affordability(late_plan, agent) -> None:
    application = apply(late_plan, monthly_income="150.00")
    today = timezone.localdate()
    preview = negotiation_offer_preview(
        application=application, terms=OfferTerms(12, Decimal("0.004"), Decimal("0"))
    )
    assert preview.schedule.rows[0].due_date > today
    assert sum(r.principal for r in preview.schedule.rows) == preview.balance.new_principal
    assert preview.income_share == (preview.monthly_payment / Decimal("150.00")).quantize(Decimal("0.0001"))
    assert preview.affordability_warning  # more than half of a 150.00 income
    assert not preview.needs_approval
    rich = apply_income(application, "100000.00")
    assert not negotiation_offer_preview(
        application=rich, terms=OfferTerms(12, Decimal("0.004"), Decimal("0"))
    ).affordability_warning
    for bad, field in [
        (OfferTerms(37, Decimal("0.004"), Decimal("0")), "tenor"),
        (OfferTerms(12, Decimal("-0.1"), Decimal("0")), "fee_rate"),
        (OfferTerms(12, Decimal("0.004"), Decimal("0"), today + timedelta(days=70)), "first_due_date"),
        (OfferTerms(12, Decimal("0.004"), Decimal("0"), today), "first_due_date"),
    ]:
        with pytest.raises(ApplicationError) as exc:
            negotiation_offer_preview(application=application, terms=bad)
        assert field in exc.value.fields
    with pytest.raises(ApplicationError) as exc:
        negotiation_offer_preview(
            application=application, terms=OfferTerms(12, Decimal("0.05"), Decimal("0"))
        )
    assert exc.value.code == "apr_above_maximum"
    deferred = negotiation_offer_preview(
        application=application,
        terms=OfferTerms(12, Decimal("0.004"), Decimal("0"), today + timedelta(days=45)),
    )
    assert deferred.schedule.rows[0].due_date == today + timedelta(days=45)


def apply_income(application: NegotiationApplication, income: str) -> NegotiationApplication:
    application.declared_monthly_income = Decimal(income)
    return application


def test_contact_log(late_plan, agent) -> None:
    customer = late_plan.customer
    with pytest.raises(ApplicationError) as exc:
        contact_log_create(
            staff=agent, customer=customer, channel="call_out", outcome=ContactOutcome.PROMISE_TO_PAY
        )
    assert "promise_to_pay_date" in exc.value.fields
    entry = contact_log_create(
        staff=agent,
        customer=customer,
        channel="call_in",
        outcome=ContactOutcome.PROMISE_TO_PAY,
        promise_to_pay_date=timezone.localdate() + timedelta(days=3),
        promise_amount="212.00",
        notes="客户承诺周五还款",
    )
    assert entry.promise_amount == Decimal("212.00")
    assert entry.staff == agent
