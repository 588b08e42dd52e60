"""短信: the customer's SMS inbox, every message written to them."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.http import AuthenticatedHttpRequest
from notifications.selectors import notification_inbox


@login_required
@require_GET
def inbox(request: AuthenticatedHttpRequest) -> HttpResponse:
    page = notification_inbox(user=request.user, page=request.GET.get("page", 1))
    return render(request, "notifications/inbox.html", {"page": page})
