from django.urls import path

from installments import extension_views, holiday_views, views

app_name = "installments"

urlpatterns = [
    path("", views.home, name="home"),
    path("documents/<uuid:public_id>/", views.negotiation_document, name="negotiation_document"),
    path("plans/<uuid:public_id>/agreement/", views.agreement, name="agreement"),
    path("plans/<uuid:public_id>/restage/", views.restage, name="restage"),
    path("plans/<uuid:public_id>/extend/", extension_views.extend, name="extend"),
    path("plans/<uuid:public_id>/extend/done/", extension_views.extension_done, name="extension_done"),
    path("plans/<uuid:public_id>/negotiate/", views.negotiate, name="negotiate"),
    path("negotiations/<uuid:public_id>/", views.negotiation, name="negotiation"),
    path("plans/<uuid:public_id>/holiday/", holiday_views.holiday, name="holiday"),
    path("h/<str:ref>/", holiday_views.holiday_link, name="holiday_link"),  # the holiday SMS's short link
]
