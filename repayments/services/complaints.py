"""投诉: customers file complaints (web, API) or staff file them for a caller (phone); staff investigate,
answer within the deadline, and may extend it twice with a second staff member's approval.

State machine (every step is a ``ComplaintEvent``; staff steps also a ``StaffAction``):

    received -> investigating -> resolved | rejected   (the decision text is required; SMS to the customer)

Deadline (calendar days, Asia/Shanghai dates, from the day of receipt): ``COMPLAINT_DEADLINE_DAYS`` (15);
an approved extension moves it to ``COMPLAINT_EXTENDED_DAYS`` (30), a second one by
``COMPLAINT_SECOND_EXTENSION_DAYS`` more (60 in all), as the CBIRC 2020 complaint measures allow. Each
extension is asked for with a reason by a handler and approved by another user holding
``repayments.approve_complaint_extension``; the customer gets an SMS with the new date and the reason.
Maker-checker is enforced here, whoever calls.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import staff_action_record
from accounts.models import User
from core.error_codes import CommonError, ErrorCode
from core.errors import ApplicationError
from installments.documents import DocumentError, Verified, checked_upload
from installments.errors import InstallmentsError
from installments.models import ContactLog, InstallmentPlan
from notifications.services import notification_create
from repayments.errors import RepaymentsError
from repayments.models import (
    MAX_COMPLAINT_EXTENSIONS,
    OPEN_COMPLAINT_STATES,
    Complaint,
    ComplaintCategory,
    ComplaintChannel,
    ComplaintDocument,
    ComplaintEvent,
    ComplaintState,
    Repayment,
)

HANDLE_COMPLAINT_PERMISSION = "repayments.handle_complaint"
APPROVE_EXTENSION_PERMISSION = "repayments.approve_complaint_extension"
TEXT_MAX = 2000
EXTENSION_REASON_MAX = 100
Action = ComplaintEvent.Action


# --- deadlines -----------------------------------------------------------------------------------------


def complaint_deadline(received_on: date, extensions: int = 0) -> date:
    """The answer-by date after ``extensions`` approved extensions (0, 1 or 2)."""
    if not 0 <= extensions <= MAX_COMPLAINT_EXTENSIONS:
        raise ValueError(f"a complaint has 0 to {MAX_COMPLAINT_EXTENSIONS} extensions, not {extensions}")
    days = (
        settings.COMPLAINT_DEADLINE_DAYS,
        settings.COMPLAINT_EXTENDED_DAYS,
        settings.COMPLAINT_EXTENDED_DAYS + settings.COMPLAINT_SECOND_EXTENSION_DAYS,
    )[extensions]
    return received_on + timedelta(days=days)


def _received_on(received_at: datetime) -> date:
    return timezone.localdate(received_at)


# --- helpers -------------------------------------------------------------------------------------------


def _require(staff: User, permission: str) -> None:
    if not (staff.is_active and staff.is_staff and staff.has_perm(permission)):
        raise ApplicationError(CommonError.PERMISSION_DENIED, _("You do not have permission to do this."))


def _log(
    complaint: Complaint,
    action: str,
    *,
    actor: User | None,
    from_state: str = "",
    note: str = "",
    **data: object,
) -> None:
    ComplaintEvent.objects.create(
        complaint=complaint,
        actor=actor,
        action=action,
        from_state=from_state,
        to_state=complaint.state,
        note=note,
        data={k: str(v) for k, v in data.items()},
    )


def _locked(complaint: Complaint, *, states: Sequence[str] = OPEN_COMPLAINT_STATES) -> Complaint:
    """The complaint row under its lock (the workflow row: every step takes it first), in an allowed state."""
    locked = Complaint.objects.select_for_update().select_related("customer").get(pk=complaint.pk)
    if locked.state not in states:
        raise ApplicationError(
            RepaymentsError.COMPLAINT_INVALID_STATE,
            _("This complaint is %(state)s; that step is not possible now.")
            % {"state": locked.get_state_display()},
        )
    return locked


def _audit(staff: User, complaint: Complaint, action: str, **detail: object) -> None:
    staff_action_record(
        staff=staff,
        customer=complaint.customer,
        action=action,
        detail={"complaint": complaint.reference, **{k: str(v) for k, v in detail.items()}},
    )


def _sms(complaint: Complaint, code: str, key: str, **context: object) -> None:
    notification_create(
        user=complaint.customer,
        code=code,
        context={"ref": complaint.reference, **context},
        dedupe_key=f"complaint:{complaint.public_id}:{key}",
    )


def _required_text(value: str, *, code: ErrorCode, field: str, limit: int) -> str:
    value = (value or "").strip()
    if not value:
        raise ApplicationError(code, _("This field is required."), fields={field: _("Required.")})
    if len(value) > limit:
        raise ApplicationError(
            CommonError.INVALID_REQUEST,
            _("At most %(n)s characters.") % {"n": limit},
            fields={field: _("At most %(n)s characters.") % {"n": limit}},
        )
    return value


def _checked(uploads: Sequence[File[bytes]]) -> list[tuple[str, Verified]]:
    """Every upload through the 协商 documents' checks (installments.documents) before anything is written."""
    checked = []
    for upload in uploads:
        try:
            checked.append(checked_upload(upload, limit=settings.NEGOTIATION_DOCUMENT_MAX_BYTES))
        except DocumentError as exc:
            raise ApplicationError(exc.code, str(exc), fields={"documents": str(exc)}) from None
    return checked


def _store(
    complaint: Complaint, checked: list[tuple[str, Verified]], *, uploaded_by: User
) -> list[ComplaintDocument]:
    """Stores checked files; files are not transactional, so the caller deletes them if its block fails."""
    limit = settings.COMPLAINT_DOCUMENT_MAX_FILES
    if complaint.documents.count() + len(checked) > limit:
        raise ApplicationError(
            InstallmentsError.TOO_MANY_FILES,
            _("At most %(n)s files.") % {"n": limit},
            fields={"documents": _("Too many files.")},
        )
    stored = []
    for name, verified in checked:
        document = ComplaintDocument(
            complaint=complaint,
            original_name=name,
            content_type=verified.content_type,
            size=len(verified.body),
            sha256=hashlib.sha256(verified.body).hexdigest(),
            uploaded_by=uploaded_by,
        )
        document.file.save(f"document{document.extension}", ContentFile(verified.body), save=False)
        document.save()
        stored.append(document)
    return stored


def _delete_files(documents: list[ComplaintDocument]) -> None:
    storage = ComplaintDocument._meta.get_field("file").storage
    for document in documents:
        if document.file.name:
            storage.delete(document.file.name)


def _links(
    customer: User,
    *,
    plan_id: UUID | str | None,
    repayment_id: UUID | str | None,
    contact: ContactLog | None,
    staff_member: User | None,
) -> dict[str, object]:
    """What the complaint is about, each checked to be the customer's (a staff member must be staff)."""
    errors: dict[str, str] = {}
    links: dict[str, object] = {"contact": contact, "staff_member": staff_member}
    plan = repayment = None
    if plan_id:
        plan = InstallmentPlan.objects.filter(customer=customer, public_id=plan_id).first()
        if plan is None:
            errors["plan_id"] = _("Not one of your plans.")
    if repayment_id:
        repayment = Repayment.objects.filter(customer=customer, public_id=repayment_id).first()
        if repayment is None:
            errors["repayment_id"] = _("Not one of your repayments.")
    if contact is not None and contact.customer_id != customer.pk:
        errors["contact"] = _("Not a contact with this customer.")
    if staff_member is not None and not staff_member.is_staff:
        errors["staff_member"] = _("Not a staff member.")
    if errors:
        raise ApplicationError(
            RepaymentsError.COMPLAINT_LINK_INVALID, _("Please correct the marked fields."), fields=errors
        )
    links.update(plan=plan, repayment=repayment)
    return links


# --- filing --------------------------------------------------------------------------------------------


def complaint_file(
    *,
    customer: User,
    channel: str,
    category: str,
    text: str,
    plan_id: UUID | str | None = None,
    repayment_id: UUID | str | None = None,
    contact: ContactLog | None = None,
    staff_member: User | None = None,
    documents: Sequence[File[bytes]] = (),
    staff: User | None = None,
    received_at: datetime | None = None,
) -> Complaint:
    """A complaint received now: the deadline counts from today, the customer gets an SMS with it.
    ``staff`` files it for a caller (channel ``phone``), which is audited."""
    if staff is not None:
        _require(staff, "repayments.add_complaint")
    if customer.is_staff or not customer.is_active:
        raise ApplicationError(
            RepaymentsError.COMPLAINT_LINK_INVALID, _("Complaints are filed for an active customer.")
        )
    errors = {}
    if channel not in ComplaintChannel.values:
        errors["channel"] = _("Unknown channel.")
    if category not in ComplaintCategory.values:
        errors["category"] = _("Choose a category.")
    if errors:
        raise ApplicationError(
            CommonError.INVALID_REQUEST, _("Please correct the marked fields."), fields=errors
        )
    text = _required_text(text, code=RepaymentsError.COMPLAINT_TEXT_REQUIRED, field="text", limit=TEXT_MAX)
    links = _links(
        customer, plan_id=plan_id, repayment_id=repayment_id, contact=contact, staff_member=staff_member
    )
    checked = _checked(documents)
    received_at = received_at or timezone.now()
    stored: list[ComplaintDocument] = []
    try:
        with transaction.atomic():
            complaint = Complaint.objects.create(
                customer=customer,
                channel=channel,
                category=category,
                text=text,
                filed_by=staff,
                received_at=received_at,
                deadline=complaint_deadline(_received_on(received_at)),
                **links,
            )
            _log(complaint, Action.FILED, actor=staff or customer, channel=channel)
            stored = _store(complaint, checked, uploaded_by=staff or customer)
            if staff is not None:
                _audit(staff, complaint, "complaint_filed", category=category)
            _sms(complaint, "complaint_received", "received", deadline=complaint.deadline)
    except BaseException:
        _delete_files(stored)
        raise
    return complaint


def complaint_document_add(*, customer: User, complaint: Complaint, upload: File[bytes]) -> ComplaintDocument:
    """One more attachment from the customer while the complaint is open."""
    if complaint.customer_id != customer.pk:
        raise ApplicationError(CommonError.NOT_FOUND, _("No such complaint."))
    checked = _checked([upload])
    stored: list[ComplaintDocument] = []
    try:
        with transaction.atomic():
            locked = _locked(complaint)
            stored = _store(locked, checked, uploaded_by=customer)
            _log(locked, Action.DOCUMENT_ADDED, actor=customer, from_state=locked.state, name=stored[0])
    except BaseException:
        _delete_files(stored)
        raise
    return stored[0]


# --- staff steps ---------------------------------------------------------------------------------------


def complaint_assign(*, staff: User, complaint: Complaint, assignee: User) -> Complaint:
    """Give an open complaint to a handler (any staff member with the handle permission)."""
    _require(staff, HANDLE_COMPLAINT_PERMISSION)
    if not (assignee.is_active and assignee.is_staff and assignee.has_perm(HANDLE_COMPLAINT_PERMISSION)):
        raise ApplicationError(
            RepaymentsError.COMPLAINT_ASSIGNEE_INVALID,
            _("%(who)s cannot handle complaints.") % {"who": assignee},
            fields={"assignee": _("Cannot handle complaints.")},
        )
    with transaction.atomic():
        locked = _locked(complaint)
        locked.assigned_to = assignee
        locked.save(update_fields=["assigned_to", "updated_at"])
        _log(locked, Action.ASSIGNED, actor=staff, from_state=locked.state, assignee=assignee.pk)
        _audit(staff, locked, "complaint_assigned", assignee=assignee.pk)
    return locked


def complaint_investigate(*, staff: User, complaint: Complaint) -> Complaint:
    """received -> investigating; an unassigned complaint becomes the investigator's."""
    _require(staff, HANDLE_COMPLAINT_PERMISSION)
    with transaction.atomic():
        locked = _locked(complaint, states=(ComplaintState.RECEIVED,))
        locked.state = ComplaintState.INVESTIGATING
        if locked.assigned_to_id is None:
            locked.assigned_to = staff
        locked.save(update_fields=["state", "assigned_to", "updated_at"])
        _log(locked, Action.INVESTIGATING, actor=staff, from_state=ComplaintState.RECEIVED)
        _audit(staff, locked, "complaint_investigating")
    return locked


def complaint_extension_request(*, staff: User, complaint: Complaint, reason: str) -> Complaint:
    """A handler asks for more time, with the reason the customer will read; it waits for an approver."""
    _require(staff, HANDLE_COMPLAINT_PERMISSION)
    reason = _required_text(
        reason, code=InstallmentsError.REASON_REQUIRED, field="reason", limit=EXTENSION_REASON_MAX
    )
    with transaction.atomic():
        locked = _locked(complaint)
        if locked.extension_count >= MAX_COMPLAINT_EXTENSIONS:
            raise ApplicationError(
                RepaymentsError.COMPLAINT_EXTENSION_LIMIT,
                _("This complaint's deadline was already extended twice (to %(date)s).")
                % {"date": locked.deadline},
            )
        if locked.extension_pending:
            raise ApplicationError(
                RepaymentsError.COMPLAINT_EXTENSION_PENDING, _("An extension already waits for approval.")
            )
        locked.extension_reason = reason
        locked.extension_requested_by = staff
        locked.save(update_fields=["extension_reason", "extension_requested_by", "updated_at"])
        new_deadline = complaint_deadline(_received_on(locked.received_at), locked.extension_count + 1)
        _log(
            locked,
            Action.EXTENSION_REQUESTED,
            actor=staff,
            from_state=locked.state,
            note=reason,
            new_deadline=new_deadline,
        )
        _audit(staff, locked, "complaint_extension_requested", reason=reason, new_deadline=new_deadline)
    return locked


def _pending_extension(complaint: Complaint, staff: User) -> Complaint:
    _require(staff, APPROVE_EXTENSION_PERMISSION)
    locked = _locked(complaint)
    if not locked.extension_pending:
        raise ApplicationError(
            RepaymentsError.COMPLAINT_NO_EXTENSION_PENDING, _("No extension waits for approval.")
        )
    if locked.extension_requested_by_id == staff.pk:
        raise ApplicationError(
            RepaymentsError.COMPLAINT_SELF_APPROVAL,
            _("An extension must be approved by someone other than the staff member who asked for it."),
        )
    return locked


def complaint_extension_approve(*, staff: User, complaint: Complaint) -> Complaint:
    """The checker: the deadline moves (15 -> 30 -> 60 days from receipt) and the customer is told the new
    date and the reason by SMS, in the same transaction."""
    with transaction.atomic():
        locked = _pending_extension(complaint, staff)
        reason = locked.extension_reason
        previous = locked.deadline
        locked.extension_count += 1
        locked.deadline = complaint_deadline(_received_on(locked.received_at), locked.extension_count)
        locked.extension_reason = ""
        locked.extension_requested_by = None
        locked.save(
            update_fields=[
                "extension_count",
                "deadline",
                "extension_reason",
                "extension_requested_by",
                "updated_at",
            ]
        )
        _log(
            locked,
            Action.EXTENSION_APPROVED,
            actor=staff,
            from_state=locked.state,
            note=reason,
            previous_deadline=previous,
            deadline=locked.deadline,
        )
        _audit(staff, locked, "complaint_extension_approved", deadline=locked.deadline, reason=reason)
        _sms(
            locked,
            "complaint_extended",
            f"extended:{locked.extension_count}",
            deadline=locked.deadline,
            why=reason,
        )
    return locked


def complaint_extension_refuse(*, staff: User, complaint: Complaint, note: str) -> Complaint:
    """The checker says no: the deadline stays, the handler may ask again with a better reason."""
    note = _required_text(
        note, code=InstallmentsError.REASON_REQUIRED, field="note", limit=EXTENSION_REASON_MAX
    )
    with transaction.atomic():
        locked = _pending_extension(complaint, staff)
        reason = locked.extension_reason
        locked.extension_reason = ""
        locked.extension_requested_by = None
        locked.save(update_fields=["extension_reason", "extension_requested_by", "updated_at"])
        _log(locked, Action.EXTENSION_REFUSED, actor=staff, from_state=locked.state, note=note, asked=reason)
        _audit(staff, locked, "complaint_extension_refused", note=note)
    return locked


def _decide(staff: User, complaint: Complaint, decision: str, to: str) -> Complaint:
    _require(staff, HANDLE_COMPLAINT_PERMISSION)
    decision = _required_text(
        decision, code=RepaymentsError.COMPLAINT_DECISION_REQUIRED, field="decision", limit=TEXT_MAX
    )
    resolved = to == ComplaintState.RESOLVED
    with transaction.atomic():
        locked = _locked(complaint, states=(ComplaintState.INVESTIGATING,))
        locked.state = to
        locked.decision = decision
        locked.decided_by = staff
        locked.decided_at = timezone.now()
        # An extension still waiting is moot once the complaint is answered.
        locked.extension_reason = ""
        locked.extension_requested_by = None
        locked.save(
            update_fields=[
                "state",
                "decision",
                "decided_by",
                "decided_at",
                "extension_reason",
                "extension_requested_by",
                "updated_at",
            ]
        )
        _log(
            locked,
            Action.RESOLVED if resolved else Action.REJECTED,
            actor=staff,
            from_state=ComplaintState.INVESTIGATING,
            note=decision,
        )
        _audit(staff, locked, "complaint_resolved" if resolved else "complaint_rejected")
        _sms(locked, "complaint_resolved" if resolved else "complaint_rejected", "decided")
    return locked


def complaint_resolve(*, staff: User, complaint: Complaint, decision: str) -> Complaint:
    """investigating -> resolved, with the decision the customer reads; SMS to the customer."""
    return _decide(staff, complaint, decision, ComplaintState.RESOLVED)


def complaint_reject(*, staff: User, complaint: Complaint, decision: str) -> Complaint:
    """investigating -> rejected (not upheld), with the reason the customer reads; SMS to the customer."""
    return _decide(staff, complaint, decision, ComplaintState.REJECTED)
