"""投诉 in the staff workspace: the queue (overdue deadlines first, then the nearest), a complaint's page
with its steps (assign, investigate, ask for and approve an extension, resolve or reject), and filing a
complaint for a caller from the customer workspace. Every step is a service call
(``repayments.services.complaints``), which checks the permission, writes the events and the audit row."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.http import AuthenticatedHttpRequest, signed_in_user
from accounts.models import User
from core.admin_forms import ServiceFormMixin, show_on_form
from core.errors import ApplicationError
from installments.documents import file_response
from installments.forms import MultipleFileField
from installments.models import ContactLog, InstallmentPlan
from repayments.complaint_selectors import complaint_queue
from repayments.models import (
    OPEN_COMPLAINT_STATES,
    Complaint,
    ComplaintCategory,
    ComplaintChannel,
    ComplaintDocument,
    ComplaintEvent,
    ComplaintState,
    Repayment,
)
from repayments.services import (
    APPROVE_EXTENSION_PERMISSION,
    HANDLE_COMPLAINT_PERMISSION,
    complaint_assign,
    complaint_extension_approve,
    complaint_extension_refuse,
    complaint_extension_request,
    complaint_file,
    complaint_investigate,
    complaint_reject,
    complaint_resolve,
)


class MineFilter(admin.SimpleListFilter):
    title = _("handler")
    parameter_name = "handler"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("mine", _("mine")), ("unassigned", _("unassigned"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Complaint]) -> QuerySet[Complaint]:
        if self.value() == "mine":
            return queryset.filter(assigned_to=request.user.pk)
        if self.value() == "unassigned":
            return queryset.filter(assigned_to__isnull=True)
        return queryset


class OpenFilter(admin.SimpleListFilter):
    title = _("open or answered")
    parameter_name = "open"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("open")), ("no", _("answered"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Complaint]) -> QuerySet[Complaint]:
        open_states = [s.value for s in OPEN_COMPLAINT_STATES]
        if self.value() == "yes":
            return queryset.filter(state__in=open_states)
        if self.value() == "no":
            return queryset.exclude(state__in=open_states)
        return queryset


def _handlers() -> QuerySet[User]:
    return User.objects.filter(is_staff=True, is_active=True).order_by("real_name", "pk")


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(label=_("assign to"), queryset=User.objects.none())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["assignee"]).queryset = _handlers()


class ConfirmForm(forms.Form):
    pass


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("reason (the customer reads it in the SMS)"),
        max_length=100,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class NoteForm(forms.Form):
    note = forms.CharField(label=_("reason"), max_length=100, widget=forms.Textarea(attrs={"rows": 2}))


class DecisionForm(forms.Form):
    decision = forms.CharField(
        label=_("decision (the customer reads it)"), max_length=2000, widget=forms.Textarea(attrs={"rows": 6})
    )


class FileForm(forms.Form):
    """Filing for a caller (channel: phone); the choices are the customer's own rows."""

    customer = forms.ModelChoiceField(queryset=User.objects.filter(is_staff=False), widget=forms.HiddenInput)
    category = forms.ChoiceField(label=_("category"), choices=ComplaintCategory.choices)
    text = forms.CharField(
        label=_("the complaint, in the customer's words"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 6}),
    )
    plan = forms.ModelChoiceField(label=_("plan"), queryset=InstallmentPlan.objects.none(), required=False)
    repayment = forms.ModelChoiceField(
        label=_("repayment"), queryset=Repayment.objects.none(), required=False
    )
    contact = forms.ModelChoiceField(label=_("contact"), queryset=ContactLog.objects.none(), required=False)
    staff_member = forms.ModelChoiceField(
        label=_("staff member complained about"), queryset=User.objects.none(), required=False
    )
    documents = MultipleFileField(label=_("attachments"), required=False)

    def __init__(self, *args: Any, customer: User | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if customer is not None:
            self.fields["customer"].initial = customer.pk
            querysets: dict[str, QuerySet[Any]] = {
                "plan": InstallmentPlan.objects.filter(customer=customer),
                "repayment": Repayment.objects.filter(customer=customer).select_related("plan"),
                "contact": ContactLog.objects.filter(customer=customer),
                "staff_member": _handlers(),
            }
            for name, queryset in querysets.items():
                cast(forms.ModelChoiceField, self.fields[name]).queryset = queryset


class ComplaintEventInline(admin.TabularInline):
    model = ComplaintEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "actor", "action", "from_state", "to_state", "note")
    readonly_fields = fields
    verbose_name_plural = _("steps")

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Complaint)
class ComplaintAdmin(ServiceFormMixin, admin.ModelAdmin):
    list_display = (
        "reference",
        "customer_display",
        "state",
        "category",
        "age",
        "deadline",
        "days_left",
        "assigned_to",
        "extension_display",
    )
    list_filter = (MineFilter, OpenFilter, "state", "category", "channel")
    search_fields = ("customer__phone", "customer__real_name")
    list_select_related = ("customer", "assigned_to")
    inlines = (ComplaintEventInline,)
    fields = (
        "reference",
        "customer_display",
        "channel",
        "category",
        "state",
        "received_at",
        "deadline",
        "days_left",
        "extension_display",
        "assigned_to",
        "plan",
        "repayment",
        "contact",
        "staff_member",
        "filed_by",
        "text",
        "attachments",
        "decision",
        "decided_by",
        "decided_at",
        "action_buttons",
    )
    readonly_fields = fields

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Complaint]:
        # Not super()'s: it orders by get_ordering before the queue's rank is annotated.
        return complaint_queue(Complaint.objects.all())

    def get_ordering(self, request: HttpRequest) -> tuple[str, ...]:
        return ("closed_rank", "deadline", "received_at")

    # --- columns ---------------------------------------------------------------------------------------

    @admin.display(description=_("reference"))
    def reference(self, obj: Complaint) -> str:
        return obj.reference

    @admin.display(description=_("customer"))
    def customer_display(self, obj: Complaint) -> str:
        return format_html(
            '<a href="{}">{} {}</a>',
            reverse("admin:support_customer", args=[obj.customer_id]),
            obj.customer.masked_name,
            obj.customer.masked_phone,
        )

    @admin.display(description=_("age"))
    def age(self, obj: Complaint) -> str:
        days = (timezone.localdate() - timezone.localdate(obj.received_at)).days
        return ngettext("%(n)s day", "%(n)s days", days) % {"n": days}

    @admin.display(description=_("days left"))
    def days_left(self, obj: Complaint) -> str:
        if not obj.is_open:
            return "-"
        days = (obj.deadline - timezone.localdate()).days
        if days < 0:
            return format_html(
                '<strong class="overdue" style="color:#ba2121">{}</strong>',
                ngettext("%(n)s day overdue", "%(n)s days overdue", -days) % {"n": -days},
            )
        return ngettext("%(n)s day", "%(n)s days", days) % {"n": days}

    @admin.display(description=_("extensions"))
    def extension_display(self, obj: Complaint) -> str:
        text = str(obj.extension_count)
        if obj.extension_pending:
            text += " · " + str(_("one waits for approval: %(reason)s") % {"reason": obj.extension_reason})
        return text

    @admin.display(description=_("attachments"))
    def attachments(self, obj: Complaint) -> str:
        return (
            format_html_join(
                ", ",
                '<a href="{}">{}</a>',
                (
                    (reverse("admin:repayments_complaint_document", args=[obj.pk, d.pk]), d.original_name)
                    for d in obj.documents.all()
                ),
            )
            or "-"
        )

    @admin.display(description=_("actions"))
    def action_buttons(self, obj: Complaint) -> str:
        if not obj.is_open:
            return "-"
        steps = [("assign", _("Assign"))]
        if obj.state == ComplaintState.RECEIVED:
            steps.append(("investigate", _("Start investigating")))
        if obj.state == ComplaintState.INVESTIGATING:
            steps += [("resolve", _("Resolve")), ("reject", _("Reject"))]
        if obj.extension_pending:
            steps += [("approve_extension", _("Approve the extension")), ("refuse_extension", _("Refuse it"))]
        else:
            steps.append(("extend", _("Ask for an extension")))
        return format_html_join(
            " ",
            '<a class="button" id="complaint-{}" href="{}">{}</a>',
            (
                (name, reverse(f"admin:repayments_complaint_{name}", args=[obj.pk]), label)
                for name, label in steps
            ),
        )

    # --- pages -----------------------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        steps = [
            "assign",
            "investigate",
            "extend",
            "approve_extension",
            "refuse_extension",
            "resolve",
            "reject",
        ]
        return [
            *(
                path(
                    f"<int:pk>/{name.replace('_', '-')}/",
                    self.admin_site.admin_view(self._step_view(name)),
                    name=f"repayments_complaint_{name}",
                )
                for name in steps
            ),
            path(
                "<int:pk>/files/<int:document_pk>/",
                self.admin_site.admin_view(self.document_view),
                name="repayments_complaint_document",
            ),
            *super().get_urls(),
        ]

    def _step_view(self, name: str) -> Any:
        def view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
            return self.step_view(request, pk, name)

        return view

    def _done(self, complaint: Complaint) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:repayments_complaint_change", args=[complaint.pk]))

    def step_view(self, request: AuthenticatedHttpRequest, pk: int, name: str) -> HttpResponse:
        permission = APPROVE_EXTENSION_PERMISSION if "extension" in name else HANDLE_COMPLAINT_PERMISSION
        if not request.user.has_perm(permission):
            raise PermissionDenied
        complaint = get_object_or_404(Complaint.objects.select_related("customer"), pk=pk)
        post = request.POST if request.method == "POST" else None
        staff = request.user
        steps: dict[str, tuple[forms.Form, Any, Any, Any]] = {
            "assign": (
                AssignForm(post, initial={"assignee": complaint.assigned_to_id or staff.pk}),
                lambda d: complaint_assign(staff=staff, complaint=complaint, assignee=d["assignee"]),
                _("Assign the complaint"),
                _("Assigned."),
            ),
            "investigate": (
                ConfirmForm(post),
                lambda d: complaint_investigate(staff=staff, complaint=complaint),
                _("Start investigating"),
                _("Investigating: the complaint is yours unless it was assigned."),
            ),
            "extend": (
                ReasonForm(post),
                lambda d: complaint_extension_request(staff=staff, complaint=complaint, reason=d["reason"]),
                _("Ask for a deadline extension"),
                _("Extension asked for: it waits for another approver."),
            ),
            "approve_extension": (
                ConfirmForm(post),
                lambda d: complaint_extension_approve(staff=staff, complaint=complaint),
                _("Approve the deadline extension"),
                _("Extension approved: the customer gets an SMS with the new date."),
            ),
            "refuse_extension": (
                NoteForm(post),
                lambda d: complaint_extension_refuse(staff=staff, complaint=complaint, note=d["note"]),
                _("Refuse the deadline extension"),
                _("Extension refused: the deadline stays."),
            ),
            "resolve": (
                DecisionForm(post),
                lambda d: complaint_resolve(staff=staff, complaint=complaint, decision=d["decision"]),
                _("Resolve the complaint"),
                _("Resolved: the customer gets an SMS and reads the decision in their account."),
            ),
            "reject": (
                DecisionForm(post),
                lambda d: complaint_reject(staff=staff, complaint=complaint, decision=d["decision"]),
                _("Reject the complaint (not upheld)"),
                _("Rejected: the customer gets an SMS and reads why in their account."),
            ),
        }
        form, call, title, done = steps[name]
        if request.method == "POST" and form.is_valid():
            try:
                call(form.cleaned_data)
            except ApplicationError as exc:
                show_on_form(form, exc)
            else:
                self.log_change(request, complaint, name)
                messages.success(request, done)
                return self._done(complaint)
        intro = _("%(ref)s · %(category)s · answer by %(deadline)s. %(text)s") % {
            "ref": complaint.reference,
            "category": complaint.get_category_display(),
            "deadline": complaint.deadline,
            "text": complaint.text[:300],
        }
        if complaint.extension_pending:
            asked = _("Extension asked for by %(who)s: %(reason)s") % {
                "who": complaint.extension_requested_by,
                "reason": complaint.extension_reason,
            }
            intro = f"{intro} {asked}"
        return self.form_page(request, form, f"{title}: {complaint.reference}", intro)

    def document_view(self, request: AuthenticatedHttpRequest, pk: int, document_pk: int) -> HttpResponseBase:
        if not self.has_view_permission(request):
            raise PermissionDenied
        document = get_object_or_404(ComplaintDocument, pk=document_pk, complaint_id=pk)
        return file_response(document)

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        """'Add complaint' files one for a caller (channel phone), opened from the customer workspace
        (``?customer=<id>``); the service checks every link is that customer's."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        staff = signed_in_user(request)
        raw = (request.POST if request.method == "POST" else request.GET).get("customer") or ""
        customer = User.objects.filter(pk=int(raw), is_staff=False).first() if raw.isdigit() else None
        if customer is None:
            messages.warning(
                request, _("Open a complaint from the customer's page (find the customer first).")
            )
            return HttpResponseRedirect(reverse("admin:repayments_complaint_changelist"))
        form = FileForm(
            request.POST if request.method == "POST" else None,
            request.FILES if request.method == "POST" else None,
            customer=customer,
        )
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                complaint = complaint_file(
                    customer=customer,
                    channel=ComplaintChannel.PHONE,
                    category=data["category"],
                    text=data["text"],
                    plan_id=data["plan"].public_id if data["plan"] else None,
                    repayment_id=data["repayment"].public_id if data["repayment"] else None,
                    contact=data["contact"],
                    staff_member=data["staff_member"],
                    documents=data["documents"] or [],
                    staff=staff,
                )
            except ApplicationError as exc:
                show_on_form(form, exc)
            else:
                self.log_addition(request, complaint, [{"added": {}}])
                messages.success(
                    request,
                    _("Complaint %(ref)s filed; answer by %(date)s. The customer gets an SMS.")
                    % {"ref": complaint.reference, "date": complaint.deadline},
                )
                return self._done(complaint)
        return self.form_page(
            request,
            form,
            _("Open a complaint for %(name)s") % {"name": customer.masked_name},
            _("Filed as received by phone today: the 15-day deadline starts now."),
        )
