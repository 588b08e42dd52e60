"""Masking of personal data for screens, SMS texts and logs.

Customers and staff recognise a masked value (``138****5678``, ``张*``); nobody who sees a screen over
a shoulder or reads a log learns the whole of it.
"""

import phonenumbers
from phonenumbers import PhoneNumber


def mask_phone(phone: PhoneNumber | str | None) -> str:
    """Keep the first three and last four digits of the national number, as Chinese apps do."""
    if not phone:
        return ""
    if isinstance(phone, str):
        text = phone
        try:
            phone = phonenumbers.parse(text, "CN")
        except phonenumbers.NumberParseException:
            digits = "".join(ch for ch in text if ch.isdigit())
            return _mask_digits(digits)
    return _mask_digits(phonenumbers.national_significant_number(phone))


def _mask_digits(digits: str) -> str:
    if len(digits) >= 8:
        return f"{digits[:3]}****{digits[-4:]}"
    if len(digits) > 2:
        return "*" * (len(digits) - 2) + digits[-2:]
    return "*" * len(digits)


def mask_name(name: str | None) -> str:
    """Keep the first character of a Chinese name (``张*``), or of each word of a Latin one."""
    if not name:
        return ""
    name = name.strip()
    if " " in name:
        return " ".join(mask_name(part) for part in name.split())
    return name[0] + "*" * (len(name) - 1)
