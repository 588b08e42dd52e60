"""/api/v1/ routes, the OpenAPI schema at /api/schema/ and its docs at /api/docs/ (local assets)."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts import api as accounts_api
from installments import api as installments_api
from installments import holiday_api
from notifications import api as notifications_api
from repayments import api as repayments_api
from repayments import complaint_api, document_api

v1 = [
    path("auth/token/", accounts_api.TokenView.as_view(), name="token"),
    path("auth/token/refresh/", accounts_api.TokenRefresh.as_view(), name="token_refresh"),
    path("auth/logout/", accounts_api.LogoutView.as_view(), name="logout"),
    path("me/", accounts_api.MeView.as_view(), name="me"),
    path("otp/", accounts_api.OtpView.as_view(), name="otp"),
    path("cards/", repayments_api.CardListView.as_view(), name="cards"),
    path("cards/<uuid:public_id>/", repayments_api.CardDetailView.as_view(), name="card"),
    path("cards/<uuid:public_id>/default/", repayments_api.CardDefaultView.as_view(), name="card_default"),
    path("cards/<uuid:public_id>/unbind/", repayments_api.CardUnbindView.as_view(), name="card_unbind"),
    path("products/", installments_api.ProductListView.as_view(), name="products"),
    path("quotes/", installments_api.QuoteView.as_view(), name="quotes"),
    path("plans/", installments_api.PlanListView.as_view(), name="plans"),
    path("plans/<uuid:public_id>/", installments_api.PlanDetailView.as_view(), name="plan"),
    path(
        "plans/<uuid:public_id>/agreement/",
        installments_api.PlanAgreementView.as_view(),
        name="plan_agreement",
    ),
    path("plans/<uuid:public_id>/auto-debit/", repayments_api.AutoDebitView.as_view(), name="plan_autodebit"),
    path(
        "plans/<uuid:public_id>/reinstallment-quotes/",
        installments_api.RestageQuoteView.as_view(),
        name="plan_restage_quotes",
    ),
    path(
        "plans/<uuid:public_id>/extension/quote/",
        installments_api.ExtensionQuoteView.as_view(),
        name="plan_extension_quote",
    ),
    path(
        "plans/<uuid:public_id>/extension/", installments_api.ExtensionView.as_view(), name="plan_extension"
    ),
    path("plans/<uuid:public_id>/holiday/", holiday_api.HolidayView.as_view(), name="plan_holiday"),
    path(
        "plans/<uuid:public_id>/holiday/accept/",
        holiday_api.HolidayAcceptView.as_view(),
        name="plan_holiday_accept",
    ),
    path(
        "plans/<uuid:public_id>/holiday/decline/",
        holiday_api.HolidayDeclineView.as_view(),
        name="plan_holiday_decline",
    ),
    path("bills/", repayments_api.BillsView.as_view(), name="bills"),
    path("repayments/", repayments_api.RepaymentListView.as_view(), name="repayments"),
    path("repayments/<uuid:public_id>/", repayments_api.RepaymentDetailView.as_view(), name="repayment"),
    path(
        "repayments/<uuid:public_id>/cancel/",
        repayments_api.RepaymentCancelView.as_view(),
        name="repayment_cancel",
    ),
    path(
        "repayments/<uuid:public_id>/receipt/", document_api.ReceiptView.as_view(), name="repayment_receipt"
    ),
    path("statements/", document_api.StatementView.as_view(), name="statements"),
    path(
        "plans/<uuid:public_id>/payoff-certificate/",
        document_api.PayoffCertificateView.as_view(),
        name="plan_payoff_certificate",
    ),
    path("reinstallments/", installments_api.RestageView.as_view(), name="restages"),
    path("negotiations/", installments_api.NegotiationListView.as_view(), name="negotiations"),
    path(
        "negotiations/<uuid:public_id>/", installments_api.NegotiationDetailView.as_view(), name="negotiation"
    ),
    path(
        "negotiations/<uuid:public_id>/documents/",
        installments_api.NegotiationDocumentView.as_view(),
        name="negotiation_documents",
    ),
    path(
        "negotiations/<uuid:public_id>/documents/<uuid:document_id>/",
        installments_api.NegotiationDocumentDownloadView.as_view(),
        name="negotiation_document",
    ),
    path(
        "negotiations/<uuid:public_id>/accept/",
        installments_api.NegotiationAcceptView.as_view(),
        name="negotiation_accept",
    ),
    path(
        "negotiations/<uuid:public_id>/decline/",
        installments_api.NegotiationDeclineView.as_view(),
        name="negotiation_decline",
    ),
    path(
        "negotiations/<uuid:public_id>/resubmit/",
        installments_api.NegotiationResubmitView.as_view(),
        name="negotiation_resubmit",
    ),
    path(
        "negotiations/<uuid:public_id>/withdraw/",
        installments_api.NegotiationWithdrawView.as_view(),
        name="negotiation_withdraw",
    ),
    path("notifications/", notifications_api.InboxView.as_view(), name="notifications"),
    path("complaints/", complaint_api.ComplaintListView.as_view(), name="complaints"),
    path("complaints/<uuid:public_id>/", complaint_api.ComplaintDetailView.as_view(), name="complaint"),
    path(
        "complaints/<uuid:public_id>/documents/",
        complaint_api.ComplaintDocumentView.as_view(),
        name="complaint_documents",
    ),
    path(
        "complaints/<uuid:public_id>/documents/<uuid:document_id>/",
        complaint_api.ComplaintDocumentDownloadView.as_view(),
        name="complaint_document",
    ),
]

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
]
