from django.urls import path

from installments import views

app_name = "installments"

urlpatterns = [
    path("", views.home, name="home"),
    path("documents/<uuid:public_id>/", views.negotiation_document, name="negotiation_document"),
]
