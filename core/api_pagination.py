"""Cursor pagination for every API list (stable pages while rows are added)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.utils.timezone import is_naive
from django.utils.translation import gettext
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import BasePagination, Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

if TYPE_CHECKING:
    # Not at run time: DRF's views module reads this class from the settings while it loads.
    from rest_framework.views import APIView

_BIGINT = 2**63
_DIGITS = re.compile(r"[0-9]{1,4}")


class NewestFirstCursorPagination(CursorPagination):
    """Stable pages under inserts; a view sets ``ordering`` when it does not have ``created_at``.

    A cursor is the client's text: DRF checks its shape, but its position goes into the query as it is,
    so a crafted one (``?cursor=cD1hYmM=``, base64 of ``p=abc``) was a 500 at query time. The position is
    checked against the ordering field here, and a bad one is the same 404 ``not_found`` as a garbage
    cursor."""

    ordering: str | tuple[str, ...] = "-created_at"
    page_size = 20
    max_page_size = 100
    page_size_query_param = "page_size"

    def get_page_size(self, request: Request) -> int:
        """``page_size`` is 1..max_page_size, given once; anything else is a 400 (DRF would quietly use the
        default for "abc", "null" or "-1", which hides a client's bug)."""
        given = request.query_params.getlist(self.page_size_query_param)
        if not given:
            return self.page_size
        text = given[0]
        if len(given) > 1 or not _DIGITS.fullmatch(text) or not 1 <= int(text) <= self.max_page_size:
            message = gettext("A whole number from 1 to %(max)s.") % {"max": self.max_page_size}
            raise ValidationError({"page_size": message})
        return int(text)

    def paginate_queryset(
        self, queryset: QuerySet[Any, Any] | Sequence[Any], request: Request, view: APIView | None = None
    ) -> list[Any] | None:
        self._model = getattr(queryset, "model", None)
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request: Request) -> Cursor | None:
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None and not self._position_ok(str(cursor.position)):
            raise NotFound(self.invalid_cursor_message)
        return cursor

    def _position_ok(self, position: str) -> bool:
        """The position parses as a value of the first ordering field (and fits the database)."""
        if "\x00" in position:
            return False
        model = getattr(self, "_model", None)
        name = (self.ordering[0] if isinstance(self.ordering, (list, tuple)) else self.ordering).lstrip("-")
        if model is None:
            return True
        try:
            field = model._meta.get_field(name)
            value = field.to_python(position)
        except FieldDoesNotExist:
            return True  # an annotation: nothing to check it against
        except (DjangoValidationError, ValueError, TypeError, OverflowError):
            return False
        if isinstance(value, datetime) and is_naive(value):
            return False  # our cursors carry the offset; a naive time would be read in another zone
        return not isinstance(value, int) or -_BIGINT <= value < _BIGINT


def paginated(view: object, request: object, rows: object, serializer_class: type) -> Response:
    """One page of ``rows`` serialized, with the view's pagination class (the ``next``/``previous`` links)."""
    paginator = view.pagination_class()  # type: ignore[attr-defined]  # each list view sets it
    page = paginator.paginate_queryset(rows, request, view=view)
    response: Response = paginator.get_paginated_response(serializer_class(page, many=True).data)
    return response


class OnePagePagination(BasePagination):
    """The list envelope of every other list (``next``, ``previous``, ``results``) for a list that is
    always one short page: a client parses every list one way. Used where the order is computed rather
    than stored (bills: most urgent first), so a cursor over a column cannot express it; the list is
    bounded by the caller's own payable plans."""

    def paginate_queryset(self, queryset: Iterable[Any], request: object, view: object = None) -> list[Any]:
        return list(queryset)

    def get_paginated_response(self, data: object) -> Response:
        return Response({"next": None, "previous": None, "results": data})

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        always_null = {"type": "string", "nullable": True, "format": "uri", "description": "Always null."}
        return {
            "type": "object",
            "required": ["results"],
            "properties": {"next": always_null, "previous": always_null, "results": schema},
        }
