"""English dates on customer pages: "10 Dec 2026" and a 24-hour clock ("10 Dec 2026, 14:05"), as a
customer in China reads them, rather than Django's US "Dec. 10, 2026" and "11:56 a.m." (issue 18).
Whatever is not set here comes from Django's own English formats (input formats included)."""

DATE_FORMAT = "j M Y"
SHORT_DATE_FORMAT = "j M Y"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "j M Y, H:i"
SHORT_DATETIME_FORMAT = "j M Y, H:i"
MONTH_DAY_FORMAT = "j M"
YEAR_MONTH_FORMAT = "M Y"
