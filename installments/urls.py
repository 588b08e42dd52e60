from django.urls import path

from installments import views

app_name = "installments"

urlpatterns = [
    path("", views.home, name="home"),
    path("documents/<uuid:public_id>/", views.negotiation_document, name="negotiation_document"),
    path("plans/<uuid:public_id>/agreement/", views.agreement, name="agreement"),
    path("plans/<uuid:public_id>/restage/", views.restage, name="restage"),
    path("plans/<uuid:public_id>/negotiate/", views.negotiate, name="negotiate"),
    path("negotiations/<uuid:public_id>/", views.negotiation, name="negotiation"),
]
