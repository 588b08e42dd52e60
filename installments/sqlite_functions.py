"""The cost ceiling's arithmetic as SQL functions on SQLite, so the sweep's set-based statements give the
cents ``installments.cost`` gives (PostgreSQL states the same in exact ``numeric`` with ``POWER``).

SQLite stores decimals as REAL: each value is read back through its shortest repr (the digits Django wrote)
and quantized, then the arithmetic is ``cost.py``'s own, in ``Decimal``. Registered on every new SQLite
connection (``connection_created``) as deterministic functions.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from installments import cost

_HUNDREDTH = Decimal("0.01")


def _decimal(value: float | int | str, quantum: Decimal) -> Decimal:
    return Decimal(repr(value) if isinstance(value, float) else str(value)).quantize(quantum)


def ceiling_room_cents(headroom: Any, apr: Any, purchase: str, on: str) -> int:
    """``cost.ceiling_room`` in whole cents (0 when the headroom is not known or not positive)."""
    if headroom is None:
        return 0
    room = cost.ceiling_room(
        headroom=_decimal(headroom, cost.HEADROOM_QUANTUM),
        apr_percent=_decimal(apr, _HUNDREDTH),
        purchase_date=date.fromisoformat(purchase),
        on=date.fromisoformat(on),
    )
    return int(room * 100)


def headroom_after(headroom: Any, cents: int, apr: Any, purchase: str, on: str) -> str | None:
    """``cost.headroom_after`` for ``cents`` accrued on ``on``, as decimal text (SQLite stores it as REAL)."""
    if headroom is None:
        return None
    value = cost.headroom_after(
        headroom=_decimal(headroom, cost.HEADROOM_QUANTUM),
        amount=Decimal(int(cents)) / 100,
        apr_percent=_decimal(apr, _HUNDREDTH),
        purchase_date=date.fromisoformat(purchase),
        on=date.fromisoformat(on),
    )
    return str(value)


def register(sender: Any, connection: Any, **kwargs: Any) -> None:
    """``connection_created`` receiver: the functions on a new SQLite connection (other backends: nothing)."""
    if connection.vendor != "sqlite":
        return
    raw = connection.connection
    raw.create_function("fc_ceiling_room_cents", 4, ceiling_room_cents, deterministic=True)
    raw.create_function("fc_headroom_after", 5, headroom_after, deterministic=True)
