"""Chinese bank card BINs: the first six digits name the bank and the card type.

A small table of common BINs is enough for the product: the bank name shown to the customer and whether
the card is a debit card (储蓄卡). An unknown BIN is "other bank", debit.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class BankInfo:
    code: str
    name: str
    card_type: str  # "debit" | "credit"


OTHER_BANK = BankInfo("OTHER", "其他银行", "debit")

# BIN -> bank. Sources: the banks' published card ranges (UnionPay 62 prefix).
BINS: dict[str, BankInfo] = {
    "622202": BankInfo("ICBC", "工商银行", "debit"),
    "622208": BankInfo("ICBC", "工商银行", "debit"),
    "625330": BankInfo("ICBC", "工商银行", "credit"),
    "621700": BankInfo("CCB", "建设银行", "debit"),
    "622700": BankInfo("CCB", "建设银行", "debit"),
    "625964": BankInfo("CCB", "建设银行", "credit"),
    "622848": BankInfo("ABC", "农业银行", "debit"),
    "622845": BankInfo("ABC", "农业银行", "debit"),
    "622836": BankInfo("ABC", "农业银行", "credit"),
    "621661": BankInfo("BOC", "中国银行", "debit"),
    "621785": BankInfo("BOC", "中国银行", "debit"),
    "625907": BankInfo("BOC", "中国银行", "credit"),
    "622588": BankInfo("CMB", "招商银行", "debit"),
    "621483": BankInfo("CMB", "招商银行", "debit"),
    "622575": BankInfo("CMB", "招商银行", "credit"),
    "622260": BankInfo("BOCOM", "交通银行", "debit"),
    "622252": BankInfo("BOCOM", "交通银行", "credit"),
    "621799": BankInfo("PSBC", "邮储银行", "debit"),
    "622188": BankInfo("PSBC", "邮储银行", "debit"),
    "622689": BankInfo("CITIC", "中信银行", "debit"),
    "622908": BankInfo("CIB", "兴业银行", "debit"),
    "622521": BankInfo("SPDB", "浦发银行", "debit"),
    "621226": BankInfo("CEB", "光大银行", "debit"),
    "622615": BankInfo("CMBC", "民生银行", "debit"),
    "622155": BankInfo("PAB", "平安银行", "credit"),
    "621626": BankInfo("PAB", "平安银行", "debit"),
}


def bank_for(number: str) -> BankInfo:
    return BINS.get(number[:6], OTHER_BANK)


# What a customer reads for a bank, in their language (the stored ``bank_name`` is the gateway's Chinese
# name). The English names are the ones the SMS use (notifications/messages.py, PLAIN_WORDS["bank"]).
BANK_LABELS = {
    "ICBC": _("ICBC"),
    "CCB": _("CCB"),
    "ABC": _("ABC"),
    "BOC": _("Bank of China"),
    "CMB": _("China Merchants Bank"),
    "BOCOM": _("Bank of Communications"),
    "PSBC": _("Postal Savings Bank"),
    "CITIC": _("China CITIC Bank"),
    "CIB": _("Industrial Bank"),
    "SPDB": _("SPD Bank"),
    "CEB": _("China Everbright Bank"),
    "CMBC": _("China Minsheng Bank"),
    "PAB": _("Ping An Bank"),
    OTHER_BANK.code: _("Other bank"),
}
_CODES_BY_NAME = {info.name: info.code for info in (*BINS.values(), OTHER_BANK)}


def bank_label(*, code: str = "", name: str = "") -> str:
    """The bank in the active language, from its code, or from the stored Chinese name when only that is
    kept (a card used once); a bank we do not know by code keeps the name the gateway gave."""
    code = code or _CODES_BY_NAME.get(name, "")
    label = BANK_LABELS.get(code)
    return str(label) if label is not None else name


def card_label(*, last4: str, code: str = "", name: str = "") -> str:
    """How pages, the API and the admin name a card, never with more digits: "工商银行 尾号1234" in
    Chinese, "ICBC card ending 1234" in English."""
    return gettext("%(bank)s card ending %(last4)s") % {
        "bank": bank_label(code=code, name=name),
        "last4": last4,
    }


def luhn_valid(number: str) -> bool:
    """The check digit every bank card number carries; catches a mistyped digit before the gateway does."""
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0
