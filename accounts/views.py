"""Sign in, sign out and reset the password with an SMS code (customer pages)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from django.views.i18n import set_language

from accounts.forms import ContactWindowForm, PhoneAuthenticationForm, ResetForm, ResetRequestForm
from accounts.http import AuthenticatedHttpRequest
from accounts.services import contact_window_set, language_set, password_reset, password_reset_request
from core.client_ip import client_ip
from core.errors import ApplicationError
from core.web import apply_errors


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = PhoneAuthenticationForm
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    pass


def _limited(form: forms.Form, exc: ApplicationError, template: str, request: HttpRequest) -> HttpResponse:
    """The reset limits' 429: the form with the message, and Retry-After (the same for every number)."""
    apply_errors(form, exc)
    response = render(request, template, {"form": form}, status=exc.status)
    if exc.status == 429 and exc.fields.get("retry_after"):
        response["Retry-After"] = exc.fields["retry_after"]
    return response


@require_http_methods(["GET", "POST"])
def reset_request(request: HttpRequest) -> HttpResponse:
    """Step 1: the same redirect and message for every valid number (known or not); only the reset
    limits, counted alike for every number, can refuse."""
    form = ResetRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        phone = str(form.cleaned_data["phone"])
        try:
            password_reset_request(phone=phone, client_address=client_ip(request))
        except ApplicationError as exc:
            return _limited(form, exc, "accounts/reset_request.html", request)
        else:
            request.session["reset_phone"] = phone
            messages.info(request, _("If this number has an account, a code is on its way by SMS."))
            return redirect("accounts:reset")
    return render(request, "accounts/reset_request.html", {"form": form})


@require_http_methods(["GET", "POST"])
def reset(request: HttpRequest) -> HttpResponse:
    phone = request.session.get("reset_phone")
    if not phone:
        return redirect("accounts:reset_request")
    form = ResetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            password_reset(
                phone=phone,
                code=form.cleaned_data["code"],
                new_password=form.cleaned_data["new_password"],
                client_address=client_ip(request),
            )
        except ApplicationError as exc:
            if exc.status == 429:
                return _limited(form, exc, "accounts/reset.html", request)
            apply_errors(form, exc, rename={"otp": "code"})
        else:
            request.session.pop("reset_phone", None)
            messages.success(request, _("Your password is changed. Sign in with it."))
            return redirect("accounts:login")
    return render(request, "accounts/reset.html", {"form": form})


@require_POST
def language_switch(request: HttpRequest) -> HttpResponse:
    """The switch on every page: Django's ``set_language`` (the cookie, for this browser and for the
    pages before sign-in), and for a signed-in user the account's language too, which is what decides
    their pages and SMS from then on (``accounts.middleware``)."""
    response = set_language(request)
    if request.user.is_authenticated:
        language_set(user=request.user, language=request.POST.get("language", ""))
    return response


@login_required
@require_http_methods(["GET", "POST"])
def contact_hours(request: AuthenticatedHttpRequest) -> HttpResponse:
    """我的账户 → 联系时间: the hours in which we may call or text about a repayment (the contact gate)."""
    user = request.user
    initial = {
        "contact_window_start": user.contact_window_start.strftime("%H:%M")
        if user.contact_window_start
        else "",
        "contact_window_end": user.contact_window_end.strftime("%H:%M") if user.contact_window_end else "",
    }
    form = ContactWindowForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            contact_window_set(
                user=user,
                start=form.cleaned_data["contact_window_start"],
                end=form.cleaned_data["contact_window_end"],
            )
        except ApplicationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Your contact hours are saved."))
            return redirect("accounts:contact_hours")
    context = {
        "form": form,
        "default_start": settings.CONTACT_HOURS_START,
        "default_end": settings.CONTACT_HOURS_END,
    }
    return render(request, "accounts/contact_hours.html", context)
