from django.urls import path

from repayments import complaint_views, document_views, views, webhooks

app_name = "repayments"

urlpatterns = [
    path("account/", views.account, name="account"),
    path("bills/", views.bills, name="bills"),
    path("plans/<uuid:public_id>/", views.plan_detail, name="plan"),
    path("plans/<uuid:public_id>/auto-debit/", views.plan_autodebit, name="plan_autodebit"),
    path("plans/<uuid:public_id>/pay/", views.pay, name="pay"),
    path("p/<str:ref>/", views.pay_link, name="pay_link"),  # the payment-link SMS's short link
    path("repayments/<uuid:public_id>/", views.repayment_detail, name="repayment"),
    path("repayments/<uuid:public_id>/cancel/", views.repayment_cancel_view, name="repayment_cancel"),
    path("records/", views.records, name="records"),
    path("cards/", views.cards, name="cards"),
    path("cards/bind/", views.card_bind_view, name="card_bind"),
    path("cards/<uuid:public_id>/default/", views.card_default, name="card_default"),
    path("webhooks/bank/", webhooks.bank_webhook, name="bank_webhook"),
    path("cards/<uuid:public_id>/unbind/", views.card_unbind_view, name="card_unbind"),
    # 还款凭证, 账单明细, 结清证明 and the public check of a certificate
    path("repayments/<uuid:public_id>/receipt/", document_views.receipt, name="receipt"),
    path("repayments/<uuid:public_id>/receipt.pdf", document_views.receipt_file, name="receipt_pdf"),
    path("statement/", document_views.statement, name="statement"),
    path("statement.pdf", document_views.statement, {"fmt": "pdf"}, name="statement_pdf"),
    path("statement.csv", document_views.statement, {"fmt": "csv"}, name="statement_csv"),
    path("plans/<uuid:public_id>/certificate/", document_views.certificate, name="certificate"),
    path("plans/<uuid:public_id>/certificate.pdf", document_views.certificate_file, name="certificate_pdf"),
    path("verify/", document_views.verify, name="verify_form"),
    path("verify/<str:code>/", document_views.verify, name="verify"),
    # 投诉与建议
    path("complaints/", complaint_views.complaints, name="complaints"),
    path("complaints/new/", complaint_views.complaint_new, name="complaint_new"),
    path("complaints/<uuid:public_id>/", complaint_views.complaint_detail, name="complaint"),
    path("complaint-files/<uuid:public_id>/", complaint_views.complaint_document, name="complaint_document"),
]
