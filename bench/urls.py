"""The service's URLs and ``/bench/one-query/``: a bare Django view doing one query, as the ceiling an
API endpoint is compared with under the same HTTP load."""

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import path

from config.urls import urlpatterns as service_urlpatterns


def one_query(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM installments_installmentplan WHERE customer_id = %s", [1])
        (count,) = cursor.fetchone()
    return JsonResponse({"plans": count})


urlpatterns = [path("bench/one-query/", one_query), *service_urlpatterns]
