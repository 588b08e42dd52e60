"""协商还款: an overdue customer applies, staff review and offer, a second staff member approves generous
offers, and the customer accepts with an SMS code; acceptance re-staged the plan in one transaction.

State machine (every change is a ``NegotiationEvent`` with who, when and what):

    submitted -> in_review -> (info_requested -> submitted) -> offer_pending_approval -> offered
    offered -> accepted | declined | expired;  submitted / in_review / info_requested /
    offer_pending_approval -> rejected;  offer_pending_approval -> in_review (approver sends it back)

Maker-checker is enforced here, not in the admin: whoever calls, an offer past a threshold waits for a
user with ``installments.approve_negotiation`` who did not make it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TypeVar
from uuid import UUID

from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile, File
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from accounts.audit import staff_action_record
from accounts.models import OtpPurpose, User
from accounts.services import otp_verify
from core.error_codes import CommonError
from core.errors import ApplicationError
from core.money import quantize_money
from core.money_input import parse_money
from installments.documents import DocumentError, Verified, checked_upload
from installments.errors import InstallmentsError
from installments.ledger import PAYABLE_PLAN_STATUSES, InstallmentRow, open_installments, owing
from installments.models import (
    ZERO,
    ContactLog,
    ContactOutcome,
    ContactParty,
    FreezeEnd,
    FreezeReason,
    InstallmentPlan,
    NegotiationApplication,
    NegotiationDocument,
    NegotiationEvent,
    NegotiationReason,
    NegotiationState,
    PlanKind,
    PlanStatus,
    ReinstallmentFeeTreatment,
)
from installments.models.negotiation import OPEN_NEGOTIATION_STATES
from installments.schedules import Schedule, due_dates
from installments.services.contact import (
    ALLOWED,
    contact_allowed,
    contact_refusal_record,
    contact_refused,
    gate_channel,
)
from installments.services.relief import plan_freeze_end, plan_freeze_start
from installments.services.restaging import (
    RestageBalance,
    plan_locked_for_restage,
    restage_balance,
    restage_locked,
    restage_schedule,
)
from notifications.services import notification_create

REVIEW_PERMISSION = "installments.review_negotiation"
APPROVE_PERMISSION = "installments.approve_negotiation"
_T = TypeVar("_T")


# --- helpers -------------------------------------------------------------------------------------------


def _log(
    application: NegotiationApplication,
    action: str,
    *,
    actor: User | None,
    from_state: str = "",
    note: str = "",
    **data: object,
) -> None:
    NegotiationEvent.objects.create(
        application=application,
        actor=actor,
        action=action,
        from_state=from_state,
        to_state=application.state,
        note=note,
        data={k: str(v) for k, v in data.items()},
    )


def _move(
    application: NegotiationApplication,
    to: str,
    *,
    allowed_from: tuple[str, ...],
    actor: User | None,
    action: str,
    note: str = "",
    fields: tuple[str, ...] = (),
    **data: object,
) -> None:
    """Change state under a row lock, refusing moves the state machine does not have."""
    locked = NegotiationApplication.objects.select_for_update().get(pk=application.pk)
    if locked.state not in allowed_from:
        raise ApplicationError(
            InstallmentsError.INVALID_STATE,
            _("This application is %(state)s; that step is not possible now.")
            % {"state": locked.get_state_display()},
        )
    previous = locked.state
    application.state = to
    application.save(update_fields=["state", "updated_at", *fields])
    _log(application, action, actor=actor, from_state=previous, note=note, **data)


def _require(staff: User, permission: str) -> None:
    if not (staff.is_active and staff.is_staff and staff.has_perm(permission)):
        raise ApplicationError(CommonError.PERMISSION_DENIED, _("You do not have permission to do this."))


def _sms(application: NegotiationApplication, code: str, key: str, **context: object) -> None:
    notification_create(
        user=application.customer,
        code=code,
        context={"plan": application.plan.display_name, **context},
        dedupe_key=f"negotiation:{application.public_id}:{key}",
    )


def _offer_field(application: NegotiationApplication, name: str, value: _T | None) -> _T:
    """A field that making the offer wrote (they are written together). Empty on an application with an
    offer means the row was changed by hand: acting on a guess could move money wrongly."""
    if value is None:
        raise ValueError(f"Negotiation {application.public_id} ({application.state}) has no {name}.")
    return value


def _own(customer: User, application_id: UUID | str) -> NegotiationApplication:
    application = (
        NegotiationApplication.objects.select_related("plan", "customer")
        .filter(public_id=application_id, customer=customer)
        .first()
    )
    if application is None:
        raise ApplicationError(InstallmentsError.NEGOTIATION_NOT_FOUND, _("No such application."))
    return application


# --- the customer's side -------------------------------------------------------------------------------


def negotiation_apply(
    *,
    customer: User,
    plan_id: int,
    reason: str,
    monthly_income: Decimal | str,
    requested_tenor: int,
    employer: str = "",
    reason_detail: str = "",
    documents: Sequence[File[bytes]] = (),
    affordable_payment: Decimal | str | None = None,
    autodebit_opt_in: bool = False,
) -> NegotiationApplication:
    """Apply for a negotiated plan on one of the customer's overdue plans, with up to five documents.
    The application and its documents are written together: a refused document refuses the whole.

    The same transaction freezes the plan (暂停计息, ``relief.plan_freeze_start``) while the application
    is decided, unless the customer's own freeze already ran on it in the last 12 months or a staff
    freeze is open: the application is submitted either way (``application.freezes`` tells which).
    ``autodebit_opt_in``: the customer's choice that auto-debit continues during the review."""
    plan = InstallmentPlan.objects.select_related("product").filter(pk=plan_id, customer=customer).first()
    if plan is None:
        raise ApplicationError(InstallmentsError.PLAN_NOT_FOUND, _("No such plan."))
    if plan.status != PlanStatus.OVERDUE:
        raise ApplicationError(
            InstallmentsError.PLAN_NOT_OVERDUE,
            _(
                "A negotiated plan is for an overdue plan. For a plan in good standing, use secondary "
                "installments."
            ),
        )
    errors: dict[str, str] = {}
    if reason not in NegotiationReason.values:
        errors["reason"] = _("Choose a reason from the list.")
    if reason == NegotiationReason.OTHER and not reason_detail.strip():
        errors["reason_detail"] = _("Tell us the reason in a few words.")
    if len(reason_detail) > 1000:
        errors["reason_detail"] = _("At most 1,000 characters.")
    if len(employer) > 100:
        errors["employer"] = _("At most 100 characters.")
    try:
        income = parse_money(monthly_income, field="monthly_income")
        if income < 0:
            errors["monthly_income"] = _("Cannot be negative.")
    except ApplicationError as exc:
        errors.update(exc.fields or {"monthly_income": exc.message})
        income = ZERO
    affordable = None
    if affordable_payment not in (None, ""):
        try:
            affordable = parse_money(affordable_payment, field="affordable_monthly_payment")
            if affordable <= 0:
                errors["affordable_monthly_payment"] = _("Enter an amount above zero, or leave it empty.")
        except ApplicationError as exc:
            errors.update(exc.fields or {"affordable_monthly_payment": exc.message})
    max_tenor = plan.product.negotiated_max_tenor
    if not isinstance(requested_tenor, int) or not 1 <= requested_tenor <= max_tenor:
        errors["requested_tenor"] = _("Between 1 and %(max)s installments.") % {"max": max_tenor}
    if len(documents) > settings.NEGOTIATION_DOCUMENT_MAX_FILES:
        errors["documents"] = _("At most %(n)s files.") % {"n": settings.NEGOTIATION_DOCUMENT_MAX_FILES}
    if errors:
        raise ApplicationError(
            InstallmentsError.INVALID_APPLICATION, _("Please correct the marked fields."), fields=errors
        )
    try:
        with _FilesRemovedOnError() as stored, transaction.atomic():
            application = NegotiationApplication.objects.create(
                customer=customer,
                plan=plan,
                reason=reason,
                reason_detail=reason_detail.strip(),
                declared_monthly_income=income,
                affordable_monthly_payment=affordable,
                employer=employer.strip(),
                requested_tenor=requested_tenor,
            )
            _log(application, "submitted", actor=customer)
            _freeze_on_apply(application, autodebit_opt_in=autodebit_opt_in)
            for upload in documents:
                _store_document(application, upload, uploaded_by=customer, stored_files=stored)
            _sms(application, "negotiation_submitted", "submitted")
    except IntegrityError:
        raise ApplicationError(
            InstallmentsError.NEGOTIATION_ALREADY_OPEN,
            _("An application for this plan is already open."),
        ) from None
    return application


def _freeze_on_apply(application: NegotiationApplication, *, autodebit_opt_in: bool) -> None:
    """Start the application's freeze; a refusal of the freeze (once in 12 months, one already open) is
    not a refusal of the application."""
    try:
        plan_freeze_start(
            plan=application.plan,
            reason=FreezeReason.NEGOTIATION,
            today=timezone.localdate(),
            application=application,
            autodebit_opt_in=autodebit_opt_in,
        )
    except ApplicationError as exc:
        if exc.code not in (InstallmentsError.FREEZE_ONCE_A_YEAR, InstallmentsError.FREEZE_ALREADY_OPEN):
            raise
        _log(application, "not_frozen", actor=None, reason=exc.code.value)


def _end_freeze(application: NegotiationApplication, end_reason: str) -> None:
    """End the freeze this application started (in the transaction of its state change)."""
    plan_freeze_end(
        plan=application.plan_id, end_reason=end_reason, today=timezone.localdate(), application=application
    )


def _checked_upload(upload: File[bytes]) -> tuple[str, Verified]:
    """``installments.documents.checked_upload`` at the 协商 documents' size limit."""
    return checked_upload(upload, limit=settings.NEGOTIATION_DOCUMENT_MAX_BYTES)


def _store_document(
    application: NegotiationApplication, upload: File[bytes], *, uploaded_by: User, stored_files: list[str]
) -> NegotiationDocument:
    try:
        name, verified = _checked_upload(upload)
    except DocumentError as exc:
        raise ApplicationError(exc.code, str(exc), fields={"documents": str(exc)}) from None
    count = NegotiationDocument.objects.filter(application=application).count()
    if count >= settings.NEGOTIATION_DOCUMENT_MAX_FILES:
        raise ApplicationError(
            InstallmentsError.TOO_MANY_FILES,
            _("At most %(n)s files.") % {"n": settings.NEGOTIATION_DOCUMENT_MAX_FILES},
            fields={"documents": _("Too many files.")},
        )
    # What is stored is what passed the checks (an image re-encoded), under a name of ours.
    document = NegotiationDocument(
        application=application,
        original_name=name,
        content_type=verified.content_type,
        size=len(verified.body),
        sha256=hashlib.sha256(verified.body).hexdigest(),
        uploaded_by=uploaded_by,
    )
    document.file.save(f"document{document.extension}", ContentFile(verified.body), save=False)
    stored_name = document.file.name
    if stored_name is None:  # FieldFile.save() names the file it stored
        raise ValueError("The document's file was saved without a name.")
    stored_files.append(stored_name)
    document.save()
    return document


# --- documents held while the application form is corrected ---------------------------------------------


@dataclass(frozen=True)
class HeldDocument:
    """A file that passed the upload checks and waits in the cache, under a random token, until the form
    around it is valid: a customer who fixes a typo does not pick the files again. Kept at most
    ``NEGOTIATION_HOLD_SECONDS`` (the cache expires it: nothing is left behind on disk)."""

    token: str
    name: str
    size: int


def _hold_key(customer: User, token: str) -> str:
    return f"negotiation-hold:{customer.pk}:{token}"


def negotiation_documents_hold(
    *, customer: User, uploads: Sequence[File[bytes]]
) -> tuple[list[HeldDocument], list[str]]:
    """Check each upload as ``negotiation_apply`` will and hold the ones that pass; the others come back
    as messages (a held file is checked again when the application is written)."""
    held: list[HeldDocument] = []
    errors: list[str] = []
    for upload in uploads:
        try:
            name, verified = _checked_upload(upload)
        except DocumentError as exc:
            errors.append(f"{upload.name}: {exc}")
            continue
        token = secrets.token_urlsafe(16)
        cache.set(
            _hold_key(customer, token),
            {"name": name, "body": verified.body},
            timeout=settings.NEGOTIATION_HOLD_SECONDS,
        )
        held.append(HeldDocument(token, name, len(verified.body)))
    return held, errors


def negotiation_documents_held(*, customer: User, tokens: Sequence[str]) -> list[HeldDocument]:
    """The customer's held files that are still there (another customer's token finds nothing)."""
    out = []
    for token in dict.fromkeys(tokens):
        value = cache.get(_hold_key(customer, token)) if token else None
        if value is not None:
            out.append(HeldDocument(token, value["name"], len(value["body"])))
    return out


def negotiation_documents_take(*, customer: User, held: Sequence[HeldDocument]) -> list[File[bytes]]:
    """The held files as uploads for ``negotiation_apply``; call ``negotiation_documents_release`` after."""
    files: list[File[bytes]] = []
    for document in held:
        value = cache.get(_hold_key(customer, document.token))
        if value is not None:
            files.append(ContentFile(value["body"], name=value["name"]))
    return files


def negotiation_documents_release(*, customer: User, held: Sequence[HeldDocument]) -> None:
    cache.delete_many([_hold_key(customer, d.token) for d in held])


class _FilesRemovedOnError:
    """Files are not transactional: whatever was stored inside the block is deleted if it raises."""

    def __enter__(self) -> list[str]:
        self.names: list[str] = []
        return self.names

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            storage = NegotiationDocument._meta.get_field("file").storage
            for name in self.names:
                storage.delete(name)


def negotiation_document_add(
    *, customer: User, application_id: UUID | str, upload: File[bytes]
) -> NegotiationDocument:
    """Add a proof document while the application is with the customer or in review."""
    application = _own(customer, application_id)
    if application.state not in (
        NegotiationState.SUBMITTED,
        NegotiationState.INFO_REQUESTED,
        NegotiationState.IN_REVIEW,
    ):
        raise ApplicationError(
            InstallmentsError.INVALID_STATE, _("Documents can no longer be added to this application.")
        )
    with _FilesRemovedOnError() as stored, transaction.atomic():
        document = _store_document(application, upload, uploaded_by=customer, stored_files=stored)
        _log(application, "document_added", actor=customer, document=document.original_name)
    return document


def negotiation_resubmit(
    *, customer: User, application_id: UUID | str, note: str = ""
) -> NegotiationApplication:
    """Send the application back to staff after they asked for more information."""
    application = _own(customer, application_id)
    with transaction.atomic():
        _move(
            application,
            NegotiationState.SUBMITTED,
            allowed_from=(NegotiationState.INFO_REQUESTED,),
            actor=customer,
            action="resubmitted",
            note=note.strip()[:1000],
        )
    return application


def negotiation_decline(*, customer: User, application_id: UUID | str) -> NegotiationApplication:
    application = _own(customer, application_id)
    with transaction.atomic():
        _move(
            application,
            NegotiationState.DECLINED,
            allowed_from=(NegotiationState.OFFERED,),
            actor=customer,
            action="declined",
        )
        _end_freeze(application, FreezeEnd.WITHDRAWN)
    return application


WITHDRAWABLE_STATES = (
    NegotiationState.SUBMITTED,
    NegotiationState.IN_REVIEW,
    NegotiationState.INFO_REQUESTED,
    NegotiationState.OFFER_PENDING_APPROVAL,
)


def negotiation_withdraw(*, customer: User, application_id: UUID | str) -> NegotiationApplication:
    """The customer withdraws an application still under review (recorded as declined by the customer,
    event ``withdrawn``); its freeze ends in the same transaction."""
    application = _own(customer, application_id)
    with transaction.atomic():
        _move(
            application,
            NegotiationState.DECLINED,
            allowed_from=WITHDRAWABLE_STATES,
            actor=customer,
            action="withdrawn",
        )
        _end_freeze(application, FreezeEnd.WITHDRAWN)
    return application


def negotiation_accept(
    *, customer: User, application_id: UUID | str, otp_code: str, autodebit: bool = False
) -> InstallmentPlan:
    """Accept the offer with the SMS code: waivers, restructured installments and the negotiated plan
    are written in one transaction (restage_locked), or nothing is. ``autodebit``: the customer's tick
    "turn on auto-debit for the new plan" (``repayments`` does it, on plan_changed, by its card rules)."""
    application = _own(customer, application_id)
    _check_acceptable(application)
    otp_verify(user=customer, purpose=OtpPurpose.ACCEPT_NEGOTIATION, code=otp_code)
    today = timezone.localdate()
    with transaction.atomic():
        locked = NegotiationApplication.objects.select_for_update().get(pk=application.pk)
        _check_acceptable(locked)
        plan, locked_plan, installments = plan_locked_for_restage(locked.plan_id)
        if plan.status not in PAYABLE_PLAN_STATUSES:
            raise ApplicationError(
                InstallmentsError.PLAN_NOT_ACTIVE, _("This plan can no longer be re-staged.")
            )
        owed = owing(installments)
        balance = _accepted_balance(locked, owed, today)
        new_plan = restage_locked(
            plan=plan,
            locked=locked_plan,
            installments=installments,
            kind=PlanKind.NEGOTIATED,
            tenor=_offer_field(locked, "offer_tenor", locked.offer_tenor),
            fee_rate=locked.offer_fee_rate,
            today=today,
            balance=balance,
            first_due_date=max(
                _offer_field(locked, "offer_first_due_date", locked.offer_first_due_date),
                today + timedelta(days=1),
            ),
            autodebit=autodebit,
        )
        locked.result_plan = new_plan
        _move(
            locked,
            NegotiationState.ACCEPTED,
            allowed_from=(NegotiationState.OFFERED,),
            actor=customer,
            action="accepted",
            fields=("result_plan",),
            waived_penalties=balance.waived_penalties,
            principal=new_plan.principal,
        )
        # The old plan is closed: whatever freeze is open on it (this application's, or staff's) ends.
        plan_freeze_end(plan=plan, end_reason=FreezeEnd.ACCEPTED, today=today)
    return new_plan


def _check_acceptable(application: NegotiationApplication) -> None:
    if (
        application.state == NegotiationState.OFFERED
        and _offer_field(application, "offer_expires_at", application.offer_expires_at) <= timezone.now()
    ):
        raise ApplicationError(
            InstallmentsError.OFFER_EXPIRED, _("This offer has expired. Contact us for a new one.")
        )
    if application.state != NegotiationState.OFFERED:
        raise ApplicationError(InstallmentsError.INVALID_STATE, _("There is no offer to accept."))


def _accepted_balance(
    application: NegotiationApplication, installments: list[InstallmentRow], today: date
) -> RestageBalance:
    """The customer accepts the figures they were shown: penalty accrued since the offer is waived too,
    so the new principal is never above the offer's (it is lower if they paid something meanwhile)."""
    unpaid_penalties = sum((i.penalty_due - i.penalty_paid - i.penalty_waived for i in installments), ZERO)
    accrued_since = max(unpaid_penalties - application.offer_penalties_at_offer, ZERO)
    return restage_balance(
        installments,
        today=today,
        fee_treatment=ReinstallmentFeeTreatment.WAIVE_FUTURE_FEES,
        penalty_waiver=application.offer_penalty_waiver + accrued_since,
    )


# --- the staff's side ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OfferTerms:
    tenor: int
    fee_rate: Decimal  # a fraction per period (0.006 = 0.60 % a month)
    penalty_waiver: Decimal  # yuan; at most the unpaid penalties (more is refused, not capped)
    first_due_date: date | None = None  # default: one period from today, deferrable up to 30 days more


RATE_PLACES = Decimal("0.000001")  # the places of ``rate_field``


def rate_percent(rate: Decimal | None) -> str:
    """A fee rate as staff read and type it: 0.006 -> "0.60 %" (stored as the fraction)."""
    if rate is None:
        return ""
    percent = (rate * 100).quantize(Decimal("0.0001")).normalize()
    if percent == percent.quantize(Decimal("0.01")):  # at least two places: 0.60, not 0.6
        percent = percent.quantize(Decimal("0.01"))
    return f"{percent:f} %"


@dataclass(frozen=True)
class OfferPreview:
    """What an offer would do, before it is sent: the schedule, its APR, and what the customer can afford.
    ``terms_hash`` stands for exactly these terms and this schedule: sending carries it back, so what is
    sent is what the sender saw (``negotiation_make_offer`` refuses anything else)."""

    terms: OfferTerms
    balance: RestageBalance
    schedule: Schedule
    monthly_payment: Decimal
    income_share: Decimal | None  # monthly payment / declared income; None without an income
    affordability_warning: bool
    approval_reasons: list[str]
    terms_hash: str = ""
    affordable_payment: Decimal | None = None  # what the customer said they can pay a month

    @property
    def needs_approval(self) -> bool:
        return bool(self.approval_reasons)

    @property
    def above_affordable(self) -> bool:
        return self.affordable_payment is not None and self.monthly_payment > self.affordable_payment


def _terms_hash(
    application: NegotiationApplication, terms: OfferTerms, balance: RestageBalance, schedule: Schedule
) -> str:
    """A keyed hash of the canonical terms and the computed schedule (canonical JSON: sorted keys, fixed
    decimal places): the same terms on the same day give the same hash; any change to a term, or to the
    balance under it (a payment, a day's penalty), gives another. Keyed with the site's secret, so a form
    cannot make one up for terms nobody previewed."""
    payload = {
        "application": str(application.public_id),
        "tenor": terms.tenor,
        "fee_rate": str(terms.fee_rate.quantize(RATE_PLACES)),
        "penalty_waiver": str(quantize_money(terms.penalty_waiver)),
        "first_due_date": terms.first_due_date.isoformat() if terms.first_due_date else "",
        "principal": str(quantize_money(balance.new_principal)),
        "rows": [
            [row.sequence, row.due_date.isoformat(), str(row.principal), str(row.fee)]
            for row in schedule.rows
        ],
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return salted_hmac("installments.negotiation.offer_terms", canonical, algorithm="sha256").hexdigest()


def _offer_balance(
    application: NegotiationApplication, penalty_waiver: Decimal, today: date
) -> RestageBalance:
    """What would move to the new plan. A waiver above the penalty accrued is refused with both figures
    (the review: ¥600 typed, ¥13.06 owed, silently capped): staff must see what is waived."""
    balance = restage_balance(
        open_installments(application.plan_id),
        today=today,
        fee_treatment=ReinstallmentFeeTreatment.WAIVE_FUTURE_FEES,
        penalty_waiver=penalty_waiver,
    )
    if penalty_waiver > balance.penalties:
        message = _("The waiver ¥%(waiver)s is above the penalty ¥%(penalty)s.") % {
            "waiver": f"{quantize_money(penalty_waiver):,.2f}",
            "penalty": f"{balance.penalties:,.2f}",
        }
        raise ApplicationError(
            InstallmentsError.WAIVER_ABOVE_PENALTY, message, fields={"penalty_waiver": message}
        )
    if balance.new_principal <= 0:
        raise ApplicationError(
            InstallmentsError.NOTHING_TO_RESTAGE, _("Nothing is left to re-stage on this plan.")
        )
    return balance


def _first_due(terms: OfferTerms, today: date) -> tuple[date, date]:
    """The offer's first due date (default one period from today) and the latest one allowed."""
    normal_first_due = due_dates(today, 1)[0]
    latest = normal_first_due + timedelta(days=settings.NEGOTIATION_MAX_DEFERRAL_DAYS)
    return terms.first_due_date or normal_first_due, latest


def negotiation_offer_preview(
    *, application: NegotiationApplication, terms: OfferTerms, today: date | None = None
) -> OfferPreview:
    """Validate offer terms and compute what they mean, with the hash that sending must carry. Writes
    nothing."""
    today = today or timezone.localdate()
    plan = application.plan
    product = plan.product
    errors: dict[str, str] = {}
    if not 1 <= terms.tenor <= product.negotiated_max_tenor:
        errors["tenor"] = _("Between 1 and %(max)s.") % {"max": product.negotiated_max_tenor}
    if terms.fee_rate < 0 or terms.fee_rate >= 1:
        errors["fee_rate"] = _("A fraction per period, e.g. 0.005.")
    if terms.penalty_waiver < 0:
        errors["penalty_waiver"] = _("Cannot be negative.")
    first_due, latest = _first_due(terms, today)
    if not today < first_due <= latest:
        errors["first_due_date"] = _("Between tomorrow and %(latest)s.") % {"latest": latest}
    if errors:
        raise ApplicationError(
            InstallmentsError.INVALID_OFFER, _("Please correct the offer terms."), fields=errors
        )
    balance = _offer_balance(application, terms.penalty_waiver, today)
    schedule = restage_schedule(
        principal=balance.new_principal,
        tenor=terms.tenor,
        fee_rate=terms.fee_rate,
        start=today,
        first_due_date=first_due,
    )
    if schedule.apr_percent > product.max_apr_percent:
        raise ApplicationError(
            InstallmentsError.APR_ABOVE_MAXIMUM,
            _("The annualized rate %(apr)s%% is above this product's maximum of %(max)s%%.")
            % {"apr": schedule.apr_percent, "max": product.max_apr_percent},
            fields={"fee_rate": _("Too high.")},
        )
    monthly = max(row.total for row in schedule.rows)
    income = application.declared_monthly_income
    share = (monthly / income).quantize(Decimal("0.0001")) if income > 0 else None
    limit = Decimal(settings.NEGOTIATION_AFFORDABILITY_SHARE)
    reasons = []
    if balance.waived_penalties > Decimal(settings.NEGOTIATION_APPROVAL_WAIVER_ABOVE):
        reasons.append(
            _("waives ¥%(amount)s of penalty (above ¥%(limit)s)")
            % {"amount": balance.waived_penalties, "limit": settings.NEGOTIATION_APPROVAL_WAIVER_ABOVE}
        )
    if terms.tenor > settings.NEGOTIATION_APPROVAL_TENOR_ABOVE:
        reasons.append(
            _("%(tenor)s installments (above %(limit)s)")
            % {"tenor": terms.tenor, "limit": settings.NEGOTIATION_APPROVAL_TENOR_ABOVE}
        )
    if terms.fee_rate > Decimal(settings.NEGOTIATION_APPROVAL_FEE_RATE_ABOVE):
        reasons.append(
            _("fee rate %(rate)s a month (above %(limit)s)")
            % {
                "rate": rate_percent(terms.fee_rate),
                "limit": rate_percent(Decimal(settings.NEGOTIATION_APPROVAL_FEE_RATE_ABOVE)),
            }
        )
    canonical = OfferTerms(
        terms.tenor, terms.fee_rate.quantize(RATE_PLACES), balance.waived_penalties, first_due
    )
    return OfferPreview(
        terms=canonical,
        balance=balance,
        schedule=schedule,
        monthly_payment=monthly,
        income_share=share,
        affordability_warning=share is None or share > limit,
        approval_reasons=reasons,
        terms_hash=_terms_hash(application, canonical, balance, schedule),
        affordable_payment=application.affordable_monthly_payment,
    )


class OfferPreset:
    FIT_MONTHLY = "fit"
    SAME_END_DATE = "same_end"
    WAIVE_ALL_PENALTY = "waive_all"
    ALL = (FIT_MONTHLY, SAME_END_DATE, WAIVE_ALL_PENALTY)


def negotiation_offer_preset(
    *,
    application: NegotiationApplication,
    terms: OfferTerms,
    preset: str,
    monthly_limit: Decimal | None = None,
    today: date | None = None,
) -> OfferTerms:
    """Terms for one of the offer page's presets, starting from the terms on the form. Writes nothing;
    the result is previewed like any terms.

    - ``fit``: the fewest installments whose largest payment is at most ``monthly_limit`` (default: what
      the customer said they can pay a month); the product's maximum if none fits.
    - ``same_end``: as many installments as keep the plan's current last due date (at least one).
    - ``waive_all``: waive every yuan of penalty accrued.
    """
    today = today or timezone.localdate()
    plan = application.plan
    max_tenor = plan.product.negotiated_max_tenor
    if preset == OfferPreset.WAIVE_ALL_PENALTY:
        balance = _offer_balance(application, ZERO, today)
        return OfferTerms(terms.tenor, terms.fee_rate, balance.penalties, terms.first_due_date)
    first_due, _latest = _first_due(terms, today)
    if preset == OfferPreset.SAME_END_DATE:
        last = plan.installments.order_by("-sequence").values_list("due_date", flat=True).first()
        dates = due_dates(today, max_tenor, first_due)
        tenor = max(1, sum(1 for d in dates if last is not None and d <= last))
        return OfferTerms(tenor, terms.fee_rate, terms.penalty_waiver, terms.first_due_date)
    if preset == OfferPreset.FIT_MONTHLY:
        limit = monthly_limit if monthly_limit is not None else application.affordable_monthly_payment
        if limit is None or limit <= 0:
            raise ApplicationError(
                InstallmentsError.INVALID_OFFER,
                _("Give the monthly amount to fit (the customer did not say what they can pay)."),
                fields={"monthly_limit": _("Required.")},
            )
        balance = _offer_balance(application, terms.penalty_waiver, today)
        for tenor in range(1, max_tenor + 1):
            schedule = restage_schedule(
                principal=balance.new_principal,
                tenor=tenor,
                fee_rate=terms.fee_rate,
                start=today,
                first_due_date=first_due,
            )
            if max(row.total for row in schedule.rows) <= limit:
                return OfferTerms(tenor, terms.fee_rate, terms.penalty_waiver, terms.first_due_date)
        return OfferTerms(max_tenor, terms.fee_rate, terms.penalty_waiver, terms.first_due_date)
    raise ApplicationError(InstallmentsError.INVALID_OFFER, _("Unknown preset."))


def negotiation_start_review(*, staff: User, application: NegotiationApplication) -> NegotiationApplication:
    _require(staff, REVIEW_PERMISSION)
    with transaction.atomic():
        application.assigned_to = staff
        _move(
            application,
            NegotiationState.IN_REVIEW,
            allowed_from=(NegotiationState.SUBMITTED,),
            actor=staff,
            action="review_started",
            fields=("assigned_to",),
        )
    return application


def negotiation_request_info(
    *, staff: User, application: NegotiationApplication, message: str
) -> NegotiationApplication:
    _require(staff, REVIEW_PERMISSION)
    message = (message or "").strip()
    if not message:
        raise ApplicationError(
            InstallmentsError.MESSAGE_REQUIRED, _("Say what is needed."), fields={"message": _("Required.")}
        )
    with transaction.atomic():
        application.info_request = message[:1000]
        _move(
            application,
            NegotiationState.INFO_REQUESTED,
            allowed_from=(NegotiationState.IN_REVIEW,),
            actor=staff,
            action="info_requested",
            note=message,
            fields=("info_request",),
        )
        count = application.events.filter(action="info_requested").count()
        _sms(application, "negotiation_info_requested", f"info:{count}")
    return application


def negotiation_make_offer(
    *,
    staff: User,
    application: NegotiationApplication,
    terms: OfferTerms,
    previewed_hash: str,
    note: str = "",
) -> NegotiationApplication:
    """Make an offer: sent to the customer at once, or held for an approver when it passes a threshold.

    ``previewed_hash`` is the ``terms_hash`` of the preview the sender saw: terms whose preview differs
    (24 installments previewed, 30 typed, "send" pressed) are refused with ``offer_terms_not_previewed``,
    whichever page or script calls. Making an offer on a submitted application starts its review (the
    sender is its handler): one step, not two."""
    _require(staff, REVIEW_PERMISSION)
    preview = negotiation_offer_preview(application=application, terms=terms)
    if not hmac.compare_digest(preview.terms_hash, previewed_hash or ""):
        raise ApplicationError(
            InstallmentsError.OFFER_TERMS_NOT_PREVIEWED,
            _("These terms are not the ones last previewed. Check the new preview, then send again."),
        )
    with transaction.atomic():
        locked = NegotiationApplication.objects.select_for_update().get(pk=application.pk)
        if locked.state == NegotiationState.SUBMITTED:
            application.assigned_to = staff
            _move(
                application,
                NegotiationState.IN_REVIEW,
                allowed_from=(NegotiationState.SUBMITTED,),
                actor=staff,
                action="review_started",
                fields=("assigned_to",),
            )
        application.offer_tenor = preview.terms.tenor
        application.offer_fee_rate = preview.terms.fee_rate
        application.offer_penalty_waiver = preview.balance.waived_penalties
        application.offer_first_due_date = preview.terms.first_due_date
        application.offer_principal = preview.balance.new_principal
        application.offer_penalties_at_offer = preview.balance.penalties
        application.offer_monthly_payment = preview.monthly_payment
        application.offer_total_fee = preview.schedule.total_fee
        application.offer_apr_percent = preview.schedule.apr_percent
        application.offer_approval_reasons = "; ".join(preview.approval_reasons)[:255]
        application.offer_note = note.strip()[:1000]
        application.offered_by = staff
        application.approved_by = None
        application.offered_at = timezone.now()
        offer_fields = (
            "offer_tenor",
            "offer_fee_rate",
            "offer_penalty_waiver",
            "offer_first_due_date",
            "offer_principal",
            "offer_penalties_at_offer",
            "offer_monthly_payment",
            "offer_total_fee",
            "offer_apr_percent",
            "offer_approval_reasons",
            "offer_note",
            "offered_by",
            "approved_by",
            "offered_at",
            "offer_expires_at",
        )
        staff_action_record(
            staff=staff,
            customer=application.customer,
            action="negotiation_offer_made",
            detail={
                "application": str(application.public_id),
                "tenor": preview.terms.tenor,
                "fee_rate": str(preview.terms.fee_rate),
                "penalty_waiver": str(preview.balance.waived_penalties),
                "terms_hash": preview.terms_hash,
            },
        )
        if preview.needs_approval:
            application.offer_expires_at = None
            _move(
                application,
                NegotiationState.OFFER_PENDING_APPROVAL,
                allowed_from=(NegotiationState.IN_REVIEW,),
                actor=staff,
                action="offer_made",
                fields=offer_fields,
                tenor=preview.terms.tenor,
                principal=preview.balance.new_principal,
                reasons=application.offer_approval_reasons,
            )
        else:
            _send_offer(
                application,
                allowed_from=(NegotiationState.IN_REVIEW,),
                actor=staff,
                action="offer_made",
                fields=offer_fields,
            )
    return application


def _send_offer(
    application: NegotiationApplication,
    *,
    allowed_from: tuple[str, ...],
    actor: User,
    action: str,
    fields: tuple[str, ...] = (),
) -> None:
    """Send the offer on ``application``: the maker's own (from ``in_review``, below the approval
    thresholds) or an approved one (from ``offer_pending_approval``); each caller names its one state."""
    application.offer_expires_at = timezone.now() + timedelta(days=settings.NEGOTIATION_OFFER_VALID_DAYS)
    _move(
        application,
        NegotiationState.OFFERED,
        allowed_from=allowed_from,
        actor=actor,
        action=action,
        fields=tuple(dict.fromkeys((*fields, "offer_expires_at", "approved_by"))),
        tenor=application.offer_tenor,
        principal=application.offer_principal,
    )
    _sms(
        application,
        "negotiation_offer",
        f"offer:{_offer_field(application, 'offered_at', application.offered_at).isoformat()}",
        tenor=application.offer_tenor,
        amount=application.offer_monthly_payment,
        expires=timezone.localtime(application.offer_expires_at).date(),
    )


def negotiation_approve(*, staff: User, application: NegotiationApplication) -> NegotiationApplication:
    """The checker: someone with the approver permission who is not the offer's maker.

    Only an offer waiting for approval (``offer_pending_approval``) can be approved: one the approver sent
    back (``in_review``) must be made again, and an application without an offer has nothing to send.
    The row is read again under its lock, so what is sent is the offer stored now, by its current maker.
    """
    _require(staff, APPROVE_PERMISSION)
    with transaction.atomic():
        locked = NegotiationApplication.objects.select_for_update().get(pk=application.pk)
        if locked.state != NegotiationState.OFFER_PENDING_APPROVAL:
            raise ApplicationError(
                InstallmentsError.INVALID_STATE,
                _("This application is %(state)s; that step is not possible now.")
                % {"state": locked.get_state_display()},
            )
        if locked.offered_by_id == staff.pk:
            raise ApplicationError(
                InstallmentsError.SELF_APPROVAL,
                _("An offer must be approved by someone other than its maker."),
            )
        application.refresh_from_db()
        application.approved_by = staff
        staff_action_record(
            staff=staff,
            customer=application.customer,
            action="negotiation_offer_approved",
            detail={"application": str(application.public_id), "offered_by": application.offered_by_id},
        )
        _send_offer(
            application,
            allowed_from=(NegotiationState.OFFER_PENDING_APPROVAL,),
            actor=staff,
            action="offer_approved",
        )
    return application


def negotiation_return_offer(
    *, staff: User, application: NegotiationApplication, note: str
) -> NegotiationApplication:
    """The approver sends a held offer back to review with a reason, instead of approving it."""
    _require(staff, APPROVE_PERMISSION)
    if not (note or "").strip():
        raise ApplicationError(
            InstallmentsError.REASON_REQUIRED, _("A reason is required."), fields={"note": _("Required.")}
        )
    with transaction.atomic():
        _move(
            application,
            NegotiationState.IN_REVIEW,
            allowed_from=(NegotiationState.OFFER_PENDING_APPROVAL,),
            actor=staff,
            action="offer_returned",
            note=note.strip(),
        )
    return application


REJECTION_REASONS = ("income_not_verified", "not_eligible", "other")


def negotiation_reject(
    *, staff: User, application: NegotiationApplication, reason: str, note: str = ""
) -> NegotiationApplication:
    _require(staff, REVIEW_PERMISSION)
    if reason not in REJECTION_REASONS:
        raise ApplicationError(
            InstallmentsError.REASON_REQUIRED,
            _("Choose a reason."),
            fields={"reason": ", ".join(REJECTION_REASONS)},
        )
    with transaction.atomic():
        application.rejection_reason = reason
        _move(
            application,
            NegotiationState.REJECTED,
            allowed_from=(
                NegotiationState.SUBMITTED,
                NegotiationState.IN_REVIEW,
                NegotiationState.INFO_REQUESTED,
                NegotiationState.OFFER_PENDING_APPROVAL,
            ),
            actor=staff,
            action="rejected",
            note=note.strip(),
            fields=("rejection_reason",),
        )
        _end_freeze(application, FreezeEnd.REJECTED)
        _sms(application, "negotiation_rejected", "rejected", reason=reason)
    return application


def negotiations_expire(*, now: datetime | None = None) -> int:
    """Offers past their date expire (daily run); the customer is told and may apply again."""
    now = now or timezone.now()
    count = 0
    for application in NegotiationApplication.objects.filter(
        state=NegotiationState.OFFERED, offer_expires_at__lte=now
    ):
        with transaction.atomic():
            try:
                _move(
                    application,
                    NegotiationState.EXPIRED,
                    allowed_from=(NegotiationState.OFFERED,),
                    actor=None,
                    action="expired",
                )
            except ApplicationError:
                continue  # accepted or declined meanwhile
            plan_freeze_end(
                plan=application.plan_id,
                end_reason=FreezeEnd.EXPIRED,
                today=timezone.localdate(now),
                application=application,
            )
            _sms(application, "negotiation_expired", "expired")
        count += 1
    return count


def contact_log_create(
    *,
    staff: User,
    customer: User,
    channel: str,
    outcome: str,
    party: str = ContactParty.DEBTOR,
    notes: str = "",
    promise_to_pay_date: date | None = None,
    promise_amount: Decimal | str | None = None,
    application: NegotiationApplication | None = None,
) -> ContactLog:
    """Record a hotline call or other contact; a promise to pay needs its date.

    The only writer of ``ContactLog``: a call out or an SMS passes the contact gate first (hours, the
    day's connected calls, the debtor alone); a refusal is stored and raised with its code. The gate and
    the write run under the customer's row lock, so two agents cannot both log the day's last call.
    """
    _require(staff, REVIEW_PERMISSION)
    errors = {}
    if outcome == ContactOutcome.PROMISE_TO_PAY and promise_to_pay_date is None:
        errors["promise_to_pay_date"] = _("A promise to pay needs its date.")
    if promise_to_pay_date is not None and promise_to_pay_date < timezone.localdate():
        errors["promise_to_pay_date"] = _("Cannot be in the past.")
    amount = parse_money(promise_amount, field="promise_amount") if promise_amount not in (None, "") else ZERO
    if errors:
        raise ApplicationError(
            InstallmentsError.INVALID_CONTACT, _("Please correct the marked fields."), fields=errors
        )
    if application is not None and application.customer_id != customer.pk:
        raise ApplicationError(InstallmentsError.NEGOTIATION_NOT_FOUND, _("No such application."))
    gated = gate_channel(channel) or ""
    now = timezone.now()
    with transaction.atomic():
        User.objects.select_for_update().only("pk").get(pk=customer.pk)
        decision = (
            contact_allowed(customer=customer, channel=gated, at=now, party=party, staff=staff, record=False)
            if gated
            else ALLOWED
        )
        if decision.allowed:
            return ContactLog.objects.create(
                customer=customer,
                application=application,
                staff=staff,
                channel=channel,
                outcome=outcome,
                party=party,
                notes=(notes or "").strip(),
                promise_to_pay_date=promise_to_pay_date,
                promise_amount=quantize_money(amount),
            )
    contact_refusal_record(
        customer=customer,
        channel=gated,
        party=party,
        code=decision.code,
        staff=staff,
        at=now,
        source="contact_log",
    )
    raise contact_refused(customer, decision)


__all__ = [
    "OPEN_NEGOTIATION_STATES",
    "OfferPreset",
    "OfferPreview",
    "OfferTerms",
    "contact_log_create",
    "negotiation_accept",
    "negotiation_apply",
    "negotiation_approve",
    "negotiation_decline",
    "negotiation_document_add",
    "negotiation_make_offer",
    "negotiation_offer_preset",
    "negotiation_offer_preview",
    "negotiation_reject",
    "negotiation_request_info",
    "negotiation_resubmit",
    "negotiation_return_offer",
    "negotiation_start_review",
    "negotiation_withdraw",
    "negotiations_expire",
]
