"""Cursor pagination for every API list (stable pages while rows are added)."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination


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
