from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from installments.selectors import EXAMPLE_PRINCIPAL, product_offers


def home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "installments/home.html",
        {"offers": product_offers(), "example_principal": EXAMPLE_PRINCIPAL},
    )
