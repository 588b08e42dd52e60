"""The collection case queue (催收案件) and promises to pay (承诺还款) in the staff workspace.

The queue opens on "my open cases", sorted by next action date then days past due, so a broken promise
(next action today) comes back to the top. Agents can open anyone's case and work it; only a lead moves
cases in bulk. Every change goes through ``installments.services.collections``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from accounts.http import AuthenticatedHttpRequest, signed_in_user
from accounts.models import User
from core.admin_forms import ServiceFormMixin, show_on_form
from core.errors import ApplicationError
from core.money_input import AsciiDecimalField
from installments.freezes import freezes_on
from installments.models import (
    OPEN_CASE_STATUSES,
    CaseStatus,
    CollectionCase,
    ContactChannel,
    ContactLog,
    PromiseToPay,
)
from installments.services import (
    REASSIGN_PERMISSION,
    RECORD_PERMISSION,
    WORK_PERMISSION,
    case_follow_up,
    cases_reassign,
    promise_to_pay_record,
)
from installments.templatetags.money import yuan

if TYPE_CHECKING:
    from django.contrib.admin.filters import _ListFilterChoices
    from django.contrib.admin.views.main import ChangeList


def staff_label(user: User | None) -> str:
    """Staff by name (colleagues know each other's names; customers' names are the ones masked)."""
    if user is None:
        return str(_("unassigned"))
    return user.real_name or user.masked_phone


def freeze_open_url(plan_id: int, back: str = "") -> str:
    """The staff page that opens a hardship freeze on the plan (``installments/admin/relief.py``)."""
    url = reverse("admin:installments_planfreeze_open", args=[plan_id])
    return f"{url}?{urlencode({'next': back})}" if back else url


def freeze_end_url(plan_id: int, back: str = "") -> str:
    url = reverse("admin:installments_planfreeze_end", args=[plan_id])
    return f"{url}?{urlencode({'next': back})}" if back else url


class _DefaultFilter(admin.SimpleListFilter):
    """A filter whose unselected state is ``default`` rather than "all"; "all" is one of its choices."""

    default = ""

    def value(self) -> str:
        return super().value() or self.default

    def choices(self, changelist: ChangeList) -> Iterator[_ListFilterChoices]:
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == str(lookup),
                "query_string": changelist.get_query_string({str(self.parameter_name): lookup}),
                "display": title,
            }


class AssigneeFilter(_DefaultFilter):
    title = _("assignee")
    parameter_name = "who"
    default = "mine"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, Any]]:
        staff = User.objects.filter(is_staff=True, assigned_cases__closed_at__isnull=True).distinct()
        return [
            ("mine", _("mine")),
            ("all", _("anyone")),
            ("none", _("unassigned")),
            *[(str(user.pk), staff_label(user)) for user in staff.order_by("real_name", "pk")],
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value == "mine":
            return queryset.filter(assignee=request.user)
        if value == "none":
            return queryset.filter(assignee__isnull=True)
        if value.isdigit():
            return queryset.filter(assignee_id=int(value))
        return queryset


class CaseStatusFilter(_DefaultFilter):
    title = _("status")
    parameter_name = "state"
    # Not "open": that is one of the statuses.
    default = "unresolved"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, Any]]:
        return [("unresolved", _("open (any)")), *CaseStatus.choices, ("all", _("all"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value == "unresolved":
            return queryset.filter(status__in=OPEN_CASE_STATUSES)
        if value in CaseStatus.values:
            return queryset.filter(status=value)
        return queryset


class PromiseForm(forms.Form):
    amount = AsciiDecimalField(label=_("amount promised (¥)"), max_digits=14, decimal_places=2)
    promised_date = forms.DateField(
        label=_("promised date"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    channel = forms.ChoiceField(
        label=_("channel"), choices=ContactChannel.choices, initial=ContactChannel.CALL_OUT
    )
    note = forms.CharField(label=_("note"), required=False, widget=forms.Textarea(attrs={"rows": 3}))


class StaffChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return staff_label(obj)


class ReassignForm(forms.Form):
    assignee = StaffChoiceField(
        label=_("reassign to"),
        queryset=User.objects.filter(is_staff=True, is_active=True, groups__isnull=False).distinct(),
    )


class FollowUpForm(forms.Form):
    next_action_date = forms.DateField(
        label=_("next action date"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )


@admin.register(CollectionCase)
class CollectionCaseAdmin(ServiceFormMixin, admin.ModelAdmin):
    list_display = (
        "case_link", "customer_display", "bucket_code", "status_display", "days_past_due", "amount_display",
        "assignee_display", "next_action_date", "age",
    )  # fmt: skip
    list_display_links = None
    list_filter = (AssigneeFilter, CaseStatusFilter, "bucket")
    ordering = ("next_action_date", "-days_past_due", "id")
    search_fields = ("=plan__public_id", "customer__phone")
    list_select_related = ("customer", "plan", "assignee")
    actions = ["reassign"]
    fields = (
        "customer_display", "workspace", "plan", "status_display", "action_buttons", "bucket",
        "days_past_due", "amount_display", "assignee_display", "next_action_date", "opened_at", "age",
        "closed_at", "close_reason", "promises_table", "contacts_table",
    )  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # the sweep opens cases

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # the page is read-only; its buttons call the services (change permission: work)

    def has_reassign_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REASSIGN_PERMISSION)

    def get_queryset(self, request: HttpRequest) -> QuerySet[CollectionCase]:
        # 暂停计息: the day the plan's freeze ends at the latest, when it is frozen today (one subquery).
        frozen = freezes_on(timezone.localdate()).filter(plan_id=OuterRef("plan_id")).order_by("-id")
        return super().get_queryset(request).annotate(frozen_until=Subquery(frozen.values("planned_end")[:1]))

    # --- columns ---------------------------------------------------------------------------------------

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, obj: CollectionCase) -> str:
        """The case's status, and "frozen until <date>" while the plan's penalties are paused."""
        until = getattr(obj, "frozen_until", None)
        if until is None:
            return str(obj.get_status_display())
        return format_html(
            '{} · <span class="frozen">{}</span>',
            obj.get_status_display(),
            _("frozen until %(date)s") % {"date": until.isoformat()},
        )

    @admin.display(description=_("case"), ordering="id")
    def case_link(self, obj: CollectionCase) -> str:
        url = reverse("admin:installments_collectioncase_change", args=[obj.pk])
        return format_html('<a href="{}">{} #{}</a>', url, obj.plan.display_name, obj.pk)

    @admin.display(description=_("customer"), ordering="customer__phone")
    def customer_display(self, obj: CollectionCase) -> str:
        return str(obj.customer)

    @admin.display(description=_("bucket"), ordering="bucket")
    def bucket_code(self, obj: CollectionCase) -> str:
        """The glossary's short code (M1...): the filter on the right spells each one out."""
        return obj.bucket

    @admin.display(description=_("amount overdue"), ordering="amount_overdue")
    def amount_display(self, obj: CollectionCase) -> str:
        return yuan(obj.amount_overdue)

    @admin.display(description=_("assignee"), ordering="assignee__real_name")
    def assignee_display(self, obj: CollectionCase) -> str:
        return staff_label(obj.assignee)

    @admin.display(description=_("age (days)"), ordering="opened_at")
    def age(self, obj: CollectionCase) -> int:
        end = obj.closed_at or timezone.now()
        return (timezone.localtime(end).date() - timezone.localtime(obj.opened_at).date()).days

    @admin.display(description=_("customer workspace"))
    def workspace(self, obj: CollectionCase) -> str:
        url = reverse("admin:support_customer", args=[obj.customer_id])
        return format_html('<a href="{}">{}</a>', url, _("plans, repayments, messages and contacts"))

    @admin.display(description=_("actions"))
    def action_buttons(self, obj: CollectionCase) -> str:
        if obj.closed_at is not None:
            return "-"
        links = [
            (
                reverse("admin:installments_collectioncase_promise", args=[obj.pk]),
                _("Record a promise to pay"),
            )
        ]
        links.append((reverse("admin:installments_collectioncase_follow_up", args=[obj.pk]), _("Next step")))
        back = reverse("admin:installments_collectioncase_change", args=[obj.pk])
        if getattr(obj, "frozen_until", None) is not None:
            links.append((freeze_end_url(obj.plan_id, back), _("End the hardship freeze")))
        else:
            links.append((freeze_open_url(obj.plan_id, back), _("Pause penalties (hardship freeze)")))
        return format_html_join(" ", '<a class="button" href="{}">{}</a>', links)

    @admin.display(description=_("promises to pay on this plan"))
    def promises_table(self, obj: CollectionCase) -> str:
        promises = PromiseToPay.objects.filter(case__plan_id=obj.plan_id).select_related("staff")
        if not promises:
            return str(_("None yet."))
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    timezone.localtime(p.created_at).strftime("%Y-%m-%d %H:%M"),
                    yuan(p.amount),
                    p.promised_date.isoformat(),
                    p.get_status_display(),
                    staff_label(p.staff),
                    p.note,
                )
                for p in promises
            ),
        )
        return format_html(
            '<table class="promises"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th>'
            "<th>{}</th></tr></thead><tbody>{}</tbody></table>",
            _("recorded at"),
            _("amount"),
            _("promised date"),
            _("status"),
            _("recorded by"),
            _("note"),
            rows,
        )

    @admin.display(description=_("contacts with the customer"))
    def contacts_table(self, obj: CollectionCase) -> str:
        contacts = ContactLog.objects.filter(customer_id=obj.customer_id).select_related("staff")[:20]
        if not contacts:
            return str(_("None yet."))
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    timezone.localtime(c.created_at).strftime("%Y-%m-%d %H:%M"),
                    c.get_channel_display(),
                    c.get_outcome_display(),
                    staff_label(c.staff),
                    c.notes,
                )
                for c in contacts
            ),
        )
        return format_html(
            '<table class="contacts"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>'
            "</thead><tbody>{}</tbody></table>",
            _("at"),
            _("channel"),
            _("outcome"),
            _("staff"),
            _("notes"),
            rows,
        )

    # --- the bulk action and the case's pages ----------------------------------------------------------

    @admin.action(description=_("Reassign to…"), permissions=["reassign"])
    def reassign(self, request: HttpRequest, queryset: QuerySet[CollectionCase]) -> HttpResponse:
        ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True))
        return HttpResponseRedirect(reverse("admin:installments_collectioncase_reassign") + f"?ids={ids}")

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "reassign/",
                self.admin_site.admin_view(self.reassign_view),
                name="installments_collectioncase_reassign",
            ),
            path(
                "<int:pk>/promise/",
                self.admin_site.admin_view(self.promise_view),
                name="installments_collectioncase_promise",
            ),
            path(
                "<int:pk>/follow-up/",
                self.admin_site.admin_view(self.follow_up_view),
                name="installments_collectioncase_follow_up",
            ),
            *super().get_urls(),
        ]

    def _case(self, request: AuthenticatedHttpRequest, pk: int, permission: str) -> CollectionCase:
        if not request.user.has_perm(permission):
            raise PermissionDenied
        return get_object_or_404(CollectionCase.objects.select_related("plan", "customer"), pk=pk)

    def _back(self, case: CollectionCase) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:installments_collectioncase_change", args=[case.pk]))

    def promise_view(self, request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
        case = self._case(request, pk, RECORD_PERMISSION)
        today = timezone.localdate()
        form = PromiseForm(
            request.POST or None, initial={"amount": case.amount_overdue, "promised_date": today}
        )
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                promise = promise_to_pay_record(
                    staff=request.user,
                    case=case,
                    amount=data["amount"],
                    promised_date=data["promised_date"],
                    note=data["note"],
                    channel=data["channel"],
                )
            except ApplicationError as exc:
                show_on_form(form, exc)
            else:
                message = str(_("Promise recorded: %(amount)s by %(date)s.")) % {
                    "amount": yuan(promise.amount),
                    "date": promise.promised_date.isoformat(),
                }
                self.log_change(request, case, message)
                messages.success(request, message)
                return self._back(case)
        latest = today + timedelta(days=settings.PTP_MAX_DAYS)
        return self.form_page(
            request,
            form,
            _("Record a promise to pay: %(plan)s") % {"plan": case.plan.display_name},
            _(
                "%(customer)s owes %(amount)s overdue (%(days)s days). The date can be from today to "
                "%(latest)s; the daily run checks the payments after it."
            )
            % {
                "customer": str(case.customer),
                "amount": yuan(case.amount_overdue),
                "days": case.days_past_due,
                "latest": latest.isoformat(),
            },
        )

    def follow_up_view(self, request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
        case = self._case(request, pk, WORK_PERMISSION)
        tomorrow = timezone.localdate() + timedelta(days=1)
        form = FollowUpForm(request.POST or None, initial={"next_action_date": tomorrow})
        if request.method == "POST" and form.is_valid():
            try:
                worked = case_follow_up(
                    staff=request.user, case=case, next_action_date=form.cleaned_data["next_action_date"]
                )
            except ApplicationError as exc:
                show_on_form(form, exc)
            else:
                messages.success(
                    request, _("Next action on %(date)s.") % {"date": worked.next_action_date.isoformat()}
                )
                return self._back(case)
        return self.form_page(
            request,
            form,
            _("Next step: %(plan)s") % {"plan": case.plan.display_name},
            _("When to come back to this case. It becomes yours if nobody has it."),
        )

    def reassign_view(self, request: AuthenticatedHttpRequest) -> HttpResponse:
        if not self.has_reassign_permission(request):
            raise PermissionDenied
        raw = request.GET.get("ids", "")
        ids = [int(part) for part in raw.split(",") if part.isdigit()]
        cases = CollectionCase.objects.filter(pk__in=ids)
        form = ReassignForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                moved = cases_reassign(
                    staff=signed_in_user(request), cases=cases, assignee=form.cleaned_data["assignee"]
                )
            except ApplicationError as exc:
                show_on_form(form, exc)
            else:
                messages.success(request, _("%(count)s cases reassigned.") % {"count": moved})
                return HttpResponseRedirect(
                    reverse("admin:installments_collectioncase_changelist") + "?who=all"
                )
        return self.form_page(
            request,
            form,
            _("Reassign %(count)s cases") % {"count": cases.count()},
            _("Resolved cases among them keep their assignee."),
        )


@admin.register(PromiseToPay)
class PromiseToPayAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "customer_display",
        "amount_display",
        "promised_date",
        "status",
        "staff_display",
    )
    list_filter = ("status", "bucket", "promised_date")
    list_select_related = ("customer", "staff")
    ordering = ("-created_at",)
    fields = (
        "case", "customer_display", "amount_display", "bucket", "promised_date", "status", "checked_at",
        "staff_display", "note", "created_at",
    )  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # recorded from the case page, through the service

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description=_("customer"))
    def customer_display(self, obj: PromiseToPay) -> str:
        return str(obj.customer)

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj: PromiseToPay) -> str:
        return yuan(obj.amount)

    @admin.display(description=_("recorded by"))
    def staff_display(self, obj: PromiseToPay) -> str:
        return staff_label(obj.staff)
