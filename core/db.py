"""Bulk writes for the debit engine's hot path, fast on PostgreSQL and plain Django elsewhere.

Django's ``bulk_update`` writes one ``CASE WHEN id = ... THEN ...`` per field per row, which PostgreSQL
plans slowly: for a 500-row chunk it took most of a debit chunk's time. ``UPDATE ... FROM (VALUES ...)``
does the same work in one join. ``bulk_create`` prepares every value of every model instance through
its field (40,000 calls for one chunk); ``insert_rows`` sends one array per column instead, so a chunk's
inserts cost a few hundred microseconds of Python. Other databases keep Django's own methods.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeAlias

from django.db import connection, models
from django.db.models.options import Options
from django.utils import timezone

# Field types whose Python values psycopg2 sends as they are (the exact type: a subclass such as a phone
# number field converts its values and goes through the field).
_PLAIN = {
    models.AutoField,
    models.BigAutoField,
    models.BigIntegerField,
    models.BooleanField,
    models.CharField,
    models.DateField,
    models.DateTimeField,
    models.DecimalField,
    models.ForeignKey,
    models.IntegerField,
    models.OneToOneField,
    models.PositiveIntegerField,
    models.PositiveSmallIntegerField,
    models.SmallIntegerField,
    models.TextField,
    models.UUIDField,
}


# Django fields are generic only to the type checker.
_Field: TypeAlias = "models.Field[Any, Any]"


def _field(meta: Options[Any], name: str) -> _Field:
    """A concrete field by name (a reverse relation has no column to write)."""
    field = meta.get_field(name)
    if not isinstance(field, models.Field):
        raise TypeError(f"{meta.label}.{name} is a reverse relation, not a column")
    return field


def _column(field: _Field) -> str:
    if field.column is None:
        raise TypeError(f"{field.model.__name__}.{field.name} has no column")
    return field.column


def _prepare(field: _Field, values: Iterable[Any]) -> list[Any]:
    if type(field) in _PLAIN:
        return list(values)
    return [None if v is None else field.get_db_prep_save(v, connection) for v in values]


def _array_type(field: _Field) -> str:
    return f"{field.rel_db_type(connection) if field.is_relation else field.db_type(connection)}[]"


def update_rows(
    model: type[models.Model], fields: Sequence[str], rows: Sequence[Sequence[Any]], *, batch_size: int = 1000
) -> None:
    """Set ``fields`` on the rows given as ``(pk, value, ...)`` tuples, in one statement per batch."""
    if not rows:
        return
    meta = model._meta
    columns = [_field(meta, name) for name in fields]
    if connection.vendor != "postgresql":
        objs = [
            model(pk=row[0], **{f.attname: v for f, v in zip(columns, row[1:], strict=True)}) for row in rows
        ]
        model._default_manager.bulk_update(objs, [f.name for f in columns], batch_size=batch_size)
        return
    quote = connection.ops.quote_name
    pk = meta.pk
    if pk is None:
        raise TypeError(f"{meta.label} has no primary key")
    table = quote(meta.db_table)
    names = [_column(pk), *(_column(f) for f in columns)]
    casts = [_array_type(pk), *(_array_type(f) for f in columns)]
    assignments = ", ".join(f"{quote(c)} = v.{quote(c)}" for c in names[1:])
    unnest = ", ".join(f"%s::{cast}" for cast in casts)
    sql = (
        f"UPDATE {table} SET {assignments} FROM unnest({unnest}) AS v({', '.join(quote(c) for c in names)}) "  # noqa: S608
        f"WHERE {table}.{quote(names[0])} = v.{quote(names[0])}"
    )
    with connection.cursor() as cursor:
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            params = [_prepare(f, (row[i] for row in batch)) for i, f in enumerate([pk, *columns])]
            cursor.execute(sql, params)


def _defaults(model: type[models.Model], given: set[str], count: int) -> list[tuple[_Field, list[Any]]]:
    """The columns the rows leave out, filled as Django would: now() for auto_now(_add) timestamps, else
    the field's default ("" for text, a new value per row for a callable such as uuid4)."""
    now = timezone.now()
    filled = []
    for field in model._meta.concrete_fields:
        if field.primary_key or field.attname in given:
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            filled.append((field, [now] * count))
        elif field.has_default() and callable(field.default):
            filled.append((field, _prepare(field, (field.get_default() for _ in range(count)))))
        else:
            value = field.get_default()
            if value is None and not field.null:
                raise ValueError(f"{model.__name__}.{field.name} has no default: give it in every row")
            filled.append((field, _prepare(field, [value] * count)))
    return filled


def insert_rows(
    model: type[models.Model],
    rows: Sequence[Mapping[str, Any]],
    *,
    ignore_conflicts: bool = False,
    returning: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    """Insert rows given as dicts of attname -> value (every row with the same keys); the model's
    defaults fill the other columns. Returns the ``returning`` columns of the inserted rows."""
    if ignore_conflicts and returning:
        raise ValueError(
            "rows skipped on a conflict return nothing: ask for returning without ignore_conflicts"
        )
    if not rows:
        return []
    given = list(rows[0])
    meta = model._meta
    defaults = _defaults(model, set(given), len(rows))  # refuses a row set missing a required column
    if connection.vendor != "postgresql":
        objs = model._default_manager.bulk_create(
            [model(**row) for row in rows], ignore_conflicts=ignore_conflicts
        )
        return [tuple(getattr(obj, name) for name in returning) for obj in objs]
    fields = [_field(meta, name) for name in given]
    columns = [(f, _prepare(f, (row[name] for row in rows))) for f, name in zip(fields, given, strict=True)]
    columns += defaults
    quote = connection.ops.quote_name
    names = ", ".join(quote(_column(f)) for f, _ in columns)
    unnest = ", ".join(f"%s::{_array_type(f)}" for f, _ in columns)
    sql = f"INSERT INTO {quote(meta.db_table)} ({names}) SELECT * FROM unnest({unnest})"  # noqa: S608
    if ignore_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    if returning:
        sql += " RETURNING " + ", ".join(quote(_column(_field(meta, name))) for name in returning)
    with connection.cursor() as cursor:
        cursor.execute(sql, [values for _, values in columns])
        return [tuple(r) for r in cursor.fetchall()] if returning else []
