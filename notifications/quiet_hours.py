"""When a reminder may be sent: not during the quiet hours of the customer's night (Asia/Shanghai)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


def parse_hhmm(value: str) -> time:
    hours, minutes = value.strip().split(":")
    return time(int(hours), int(minutes))


def quiet_hours_release(at: datetime, *, start: time, end: time, tz: ZoneInfo) -> datetime | None:
    """The moment the quiet hours containing ``at`` end, or None when ``at`` is outside them.

    The window may cross midnight (21:00-08:00): 23:30 is released at 08:00 the next day, 06:00 at
    08:00 the same day. ``start == end`` means no quiet hours.
    """
    if start == end:
        return None
    local = at.astimezone(tz)
    now = local.time()
    if start < end:
        inside = start <= now < end
        release_day = local.date()
    else:
        inside = now >= start or now < end
        release_day = local.date() + timedelta(days=1) if now >= start else local.date()
    if not inside:
        return None
    return datetime.combine(release_day, end, tzinfo=tz)
