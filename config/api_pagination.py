"""Cursor pagination for every API list (stable pages while rows are added)."""

from __future__ import annotations

from rest_framework.pagination import BasePagination, CursorPagination
from rest_framework.response import Response


class NewestFirstCursorPagination(CursorPagination):
    """Stable pages under inserts; a view sets ``ordering`` when it does not have ``created_at``."""

    ordering = "-created_at"
    page_size = 20
    max_page_size = 100
    page_size_query_param = "page_size"


def paginated(view: object, request: object, rows: object, serializer_class: type) -> object:
    """One page of ``rows`` serialized, with the view's pagination class (the ``next``/``previous`` links)."""
    paginator = view.pagination_class()  # type: ignore[attr-defined]
    page = paginator.paginate_queryset(rows, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


class OnePagePagination(BasePagination):
    """The list envelope of every other list (``next``, ``previous``, ``results``) for a list that is
    always one short page: a client parses every list one way. Used where the order is computed rather
    than stored (bills: most urgent first), so a cursor over a column cannot express it; the list is
    bounded by the caller's own payable plans."""

    def paginate_queryset(self, queryset: object, request: object, view: object = None) -> list:
        return list(queryset)  # type: ignore[call-overload]

    def get_paginated_response(self, data: object) -> Response:
        return Response({"next": None, "previous": None, "results": data})

    def get_paginated_response_schema(self, schema: dict) -> dict:
        always_null = {"type": "string", "nullable": True, "format": "uri", "description": "Always null."}
        return {
            "type": "object",
            "required": ["results"],
            "properties": {"next": always_null, "previous": always_null, "results": schema},
        }
