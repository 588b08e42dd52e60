from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

from config.api_urls import urlpatterns as api_urlpatterns
from config.api_urls import v1
from config.views import healthz, readyz

# In the staff member's language, like the rest of the admin (a zh page showed "Support workspace").
admin.site.site_header = _("Installment repayments · Support workspace")
admin.site.site_title = _("Installment repayments")
admin.site.index_title = _("Support workspace")
# The index adds a banner for open critical reconciliation breaks (repayments' template tag).
admin.site.index_template = "admin/support_index.html"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("api/v1/", include((v1, "api_v1"))),
    path("api/", include((api_urlpatterns, "api"))),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("accounts.urls")),
    path("", include("repayments.urls")),
    path("", include("notifications.urls")),
    path("", include("installments.urls")),
]

handler400 = "config.views.bad_request"
handler404 = "config.views.not_found"
