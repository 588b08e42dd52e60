from django.urls import path

from repayments import views, webhooks

app_name = "repayments"

urlpatterns = [
    path("account/", views.account, name="account"),
    path("bills/", views.bills, name="bills"),
    path("plans/<uuid:public_id>/", views.plan_detail, name="plan"),
    path("plans/<uuid:public_id>/auto-debit/", views.plan_autodebit, name="plan_autodebit"),
    path("plans/<uuid:public_id>/pay/", views.pay, name="pay"),
    path("repayments/<uuid:public_id>/", views.repayment_detail, name="repayment"),
    path("repayments/<uuid:public_id>/cancel/", views.repayment_cancel_view, name="repayment_cancel"),
    path("records/", views.records, name="records"),
    path("cards/", views.cards, name="cards"),
    path("cards/bind/", views.card_bind_view, name="card_bind"),
    path("cards/<uuid:public_id>/default/", views.card_default, name="card_default"),
    path("webhooks/bank/", webhooks.bank_webhook, name="bank_webhook"),
    path("cards/<uuid:public_id>/unbind/", views.card_unbind_view, name="card_unbind"),
]
