"""SMS texts in Chinese and English, and how a context becomes one message.

Texts live in code rather than in the database because every one is reviewed (length, tone, masking) and
tested in both languages; an operator changing a text is a code change. Each fits one SMS where it can:
70 characters for Chinese (UCS-2), 160 for English (GSM-7), signature included.

Callers pass raw values; rendering formats them for the language (``Decimal`` -> ``1,234.56``, ``date``
-> ``11月28日`` / ``28 Nov``), translates reason and purpose codes into plain words, and masks whatever
could identify a person: the customer's name is always taken masked from the user, and any run of nine
or more digits (a card or phone number passed by mistake) is cut to its last four.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from string import Formatter
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy

from notifications.models import NotificationCategory

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

ZH = "zh-hans"
EN = "en"
LANGUAGES = (ZH, EN)

SMS_LIMITS = {ZH: 70, EN: 160}

_LONG_DIGITS = re.compile(r"\d{9,}")


@dataclass(frozen=True)
class MessageTemplate:
    code: str
    category: str
    zh: str
    en: str
    sample: dict[str, object] = field(default_factory=dict)
    # Context keys whose value is a secret (a one-time code): the outbox row's ``text`` has them replaced by
    # ******, whatever the status; the full text exists only sealed (notifications/sealing.py) until sent.
    secret_keys: tuple[str, ...] = ()

    def text(self, language: str) -> str:
        return self.en if language == EN else self.zh


# Plain words for the codes callers pass as ``reason`` (gateway and review outcomes) and ``purpose`` (OTP).
PLAIN_WORDS: dict[str, dict[str, tuple[str, str]]] = {
    "reason": {
        "insufficient_funds": ("余额不足", "insufficient balance"),
        "declined": ("银行卡不可用", "the card was declined"),
        "card_expired": ("银行卡已过期", "the card has expired"),
        "failed": ("银行系统繁忙", "the bank was busy"),
        "limit_exceeded": ("超出银行卡限额", "the card's limit was reached"),
        "not_charged": ("扣款未能发出", "the debit could not be sent"),
        "card_removed": ("银行卡已解绑", "the card was removed"),
        "nothing_due": ("当日无应还金额", "nothing was due"),
        "income_not_verified": ("收入证明不足", "income could not be verified"),
        "not_eligible": ("不符合条件", "not eligible"),
        "other": ("其他原因", "other reasons"),
    },
    # Bank codes (repayments/banks.py) as the customer reads them.
    "bank": {
        "ICBC": ("工商银行", "ICBC"),
        "CCB": ("建设银行", "CCB"),
        "ABC": ("农业银行", "ABC"),
        "BOC": ("中国银行", "Bank of China"),
        "CMB": ("招商银行", "China Merchants Bank"),
        "BOCOM": ("交通银行", "Bank of Communications"),
        "PSBC": ("邮储银行", "Postal Savings Bank"),
        "CITIC": ("中信银行", "China CITIC Bank"),
        "CIB": ("兴业银行", "Industrial Bank"),
        "SPDB": ("浦发银行", "SPD Bank"),
        "CEB": ("光大银行", "China Everbright Bank"),
        "CMBC": ("民生银行", "China Minsheng Bank"),
        "PAB": ("平安银行", "Ping An Bank"),
        "other": ("银行", "bank"),
    },
    "waived": {
        "penalty": ("违约金", "late fees"),
        "fee": ("手续费", "fees"),
    },
    "purpose": {
        "login_reset": ("重置密码", "password reset"),
        "bind_card": ("绑定银行卡", "binding a card"),
        "change_autodebit_card": ("更换扣款卡", "changing the debit card"),
        "accept_negotiation": ("确认协商方案", "accepting the plan"),
        "phone_verify": ("验证手机号", "verifying your phone"),
        "restage": ("确认二次分期", "confirming the secondary installments"),
        "extension": ("确认延期还款", "confirming the due-date extension"),
        "accept_holiday": ("确认还款假期", "accepting the payment holiday"),
    },
}

# What to do next, for a failed debit: keyed by reason; the default covers the rest.
_FAILED_DEBIT_ADVICE = {
    "insufficient_funds": ("请充值后立即还款", "top up and repay now"),
    "declined": ("请更换银行卡", "change your card"),
    "card_expired": ("请更换银行卡", "change your card"),
}
_DEFAULT_ADVICE = ("请在我的账单立即还款", "repay in My Bills")

# Filled in by rendering, not by callers: the advice for a failed debit, and the customer service number of
# every message that says 联系客服 / "contact us" (settings.SERVICE_HOTLINE).
_FILLED_BY_US = ("advice", "hotline")
_HOTLINE_MARK = "\x00hotline\x00"

_SAMPLE_PLAN = "iPhone分期"
TEMPLATES: dict[str, MessageTemplate] = {
    t.code: t
    for t in (
        MessageTemplate(
            "due_reminder",
            NotificationCategory.REMINDER,
            zh="{name}您好，{plan}第{seq}期¥{amount}将于{due_date}到期，请按时还款。",
            en="Dear {name}, installment {seq} of {plan}, ¥{amount}, is due on {due_date}. "
            "Please repay on time.",
            sample={
                "plan": _SAMPLE_PLAN,
                "seq": 3,
                "amount": Decimal("106.00"),
                "due_date": date(2026, 12, 5),
            },
        ),
        MessageTemplate(
            "autodebit_scheduled",
            NotificationCategory.REMINDER,
            zh="{due_date}将从尾号{card_last4}银行卡自动扣款¥{amount}（{plan}），请保持余额充足。",
            en="¥{amount} for {plan} will be debited from card ending {card_last4} on {due_date}. "
            "Please keep it funded.",
            sample={
                "plan": _SAMPLE_PLAN,
                "amount": Decimal("106.00"),
                "due_date": date(2026, 12, 5),
                "card_last4": "1234",
            },
        ),
        MessageTemplate(
            "autodebit_succeeded",
            NotificationCategory.TRANSACTIONAL,
            zh="已从尾号{card_last4}银行卡扣款¥{amount}，用于{plan}还款，剩余待还¥{remaining}。",
            en="¥{amount} was debited from card ending {card_last4} for {plan}. Remaining: ¥{remaining}.",
            sample={
                "plan": _SAMPLE_PLAN,
                "amount": Decimal("106.00"),
                "card_last4": "1234",
                "remaining": Decimal("954.00"),
            },
        ),
        MessageTemplate(
            "autodebit_failed",
            NotificationCategory.TRANSACTIONAL,
            zh="尾号{card_last4}银行卡扣款¥{amount}失败：{reason}。{advice}，以免逾期。",
            en="Debit of ¥{amount} from card ending {card_last4} failed: {reason}. "
            "Please {advice} to avoid being late.",
            sample={
                "amount": Decimal("106.00"),
                "card_last4": "1234",
                "reason": "insufficient_funds",
            },
        ),
        MessageTemplate(
            "autodebit_disabled",
            NotificationCategory.TRANSACTIONAL,
            zh="尾号{card_last4}银行卡无法扣款（{reason}），{plan}已关闭自动扣款，请绑定新卡或主动还款。",
            en="Card ending {card_last4} cannot be debited ({reason}); auto-debit for {plan} is off. "
            "Bind a new card or repay yourself.",
            sample={"plan": _SAMPLE_PLAN, "card_last4": "1234", "reason": "declined"},
        ),
        MessageTemplate(
            "autodebit_card_changed",
            NotificationCategory.SECURITY,
            zh="{plan}的自动扣款卡已更换为尾号{card_last4}的银行卡。如非本人操作，请立即联系客服{hotline}。",
            en="Auto-debit for {plan} now uses card ending {card_last4}. "
            "Not you? Call us at once: {hotline}.",
            sample={"plan": _SAMPLE_PLAN, "card_last4": "1234"},
        ),
        MessageTemplate(
            "repayment_received",
            NotificationCategory.TRANSACTIONAL,
            zh="已收到您的还款¥{amount}（{plan}），剩余待还¥{remaining}。",
            en="We received your repayment of ¥{amount} for {plan}. Remaining: ¥{remaining}.",
            sample={"plan": _SAMPLE_PLAN, "amount": Decimal("500.00"), "remaining": Decimal("560.00")},
        ),
        MessageTemplate(
            "repayment_refunded",
            NotificationCategory.TRANSACTIONAL,
            zh="¥{amount}已退回您尾号{card_last4}的银行卡（{plan}多扣部分），1-3个工作日到账。",
            en="¥{amount} charged beyond what {plan} owed was refunded to card ending {card_last4}; "
            "it arrives in 1-3 working days.",
            sample={"plan": _SAMPLE_PLAN, "amount": Decimal("106.00"), "card_last4": "1234"},
        ),
        MessageTemplate(
            "repayment_scheduled",
            NotificationCategory.TRANSACTIONAL,
            zh="您已预约{pay_date}从尾号{card_last4}银行卡还款¥{amount}（{plan}）。",
            en="Your repayment of ¥{amount} for {plan} from card ending {card_last4} "
            "is scheduled on {pay_date}.",
            sample={
                "plan": _SAMPLE_PLAN,
                "amount": Decimal("212.00"),
                "card_last4": "1234",
                "pay_date": date(2026, 12, 3),
            },
        ),
        MessageTemplate(
            "overdue_reminder",
            NotificationCategory.REMINDER,
            zh="{name}您好，{plan}已逾期{days}天，待还¥{amount}（含违约金），请尽快还款以免影响信用。",
            en="Dear {name}, {plan} is {days} days overdue: ¥{amount} incl. late fees. "
            "Please repay soon to protect your credit record.",
            sample={"plan": _SAMPLE_PLAN, "days": 12, "amount": Decimal("108.12")},
        ),
        MessageTemplate(
            # The day's one overdue SMS of a customer with several overdue plans: the total, not one per plan.
            "overdue_summary",
            NotificationCategory.REMINDER,
            zh="{name}您好，您有{plans}笔分期已逾期，最长{days}天，共待还¥{amount}（含违约金），请尽快还款以免影响信用。",
            en="Dear {name}, {plans} of your plans are overdue (the oldest {days} days): ¥{amount} "
            "in all, incl. late fees. Please repay soon.",
            sample={"plans": 2, "days": 12, "amount": Decimal("1308.12")},
        ),
        MessageTemplate(
            # The last message about a charged-off plan (核销): reminders and auto-debit stop after it.
            "charge_off_notice",
            NotificationCategory.TRANSACTIONAL,
            zh="{name}您好，{plan}已逾期{days}天，待还¥{amount}，自动扣款和提醒已停止，请尽快联系客服{hotline}。",
            en="Dear {name}, {plan} is {days} days overdue: ¥{amount}. Auto-debit and reminders have "
            "stopped; please contact us at {hotline} to settle it.",
            sample={"plan": _SAMPLE_PLAN, "days": 180, "amount": Decimal("3212.40")},
        ),
        MessageTemplate(
            # Sent by an agent from the customer workspace (payment_link_send), through the contact gate:
            # the link opens the plan's 立即还款 page after sign-in; no secret in it, the plan's short ref.
            "payment_link",
            NotificationCategory.REMINDER,
            zh="{plan}待还¥{amount}，立即还款：{link}",
            en="¥{amount} is due on {plan}. Repay now: {link}",
            sample={
                "plan": _SAMPLE_PLAN,
                "amount": Decimal("1308.12"),
                "link": "http://127.0.0.1:8000/p/0a1b2c3d/",
            },
        ),
        MessageTemplate(
            "card_bound",
            NotificationCategory.SECURITY,
            zh="您已绑定{bank}尾号{card_last4}的银行卡。如非本人操作，请立即联系客服{hotline}。",
            en="Your {bank} card ending {card_last4} is now linked. Not you? Call us at once: {hotline}.",
            sample={"bank": "CMB", "card_last4": "1234"},
        ),
        MessageTemplate(
            "card_removed",
            NotificationCategory.SECURITY,
            zh="您已解绑{bank}尾号{card_last4}的银行卡。如非本人操作，请立即联系客服{hotline}。",
            en="Your {bank} card ending {card_last4} was removed. Not you? Call us at once: {hotline}.",
            sample={"bank": "CMB", "card_last4": "1234"},
        ),
        MessageTemplate(
            "negotiation_submitted",
            NotificationCategory.TRANSACTIONAL,
            zh="您的{plan}分期申请已提交，我们将在3个工作日内审核并短信通知您。",
            en="Your installment application for {plan} was submitted. We will reply by SMS "
            "within 3 working days.",
            sample={"plan": _SAMPLE_PLAN},
        ),
        MessageTemplate(
            "negotiation_offer",
            NotificationCategory.TRANSACTIONAL,
            zh="您的{plan}协商方案：{tenor}期，每期约¥{amount}，请于{expires}前登录查看并确认。",
            en="Your offer for {plan}: {tenor} installments of about ¥{amount}. "
            "Review and accept it before {expires}.",
            sample={
                "plan": _SAMPLE_PLAN,
                "tenor": 24,
                "amount": Decimal("58.20"),
                "expires": date(2026, 12, 12),
            },
        ),
        MessageTemplate(
            "plan_restaged",
            NotificationCategory.TRANSACTIONAL,
            zh="您的{plan}新分期已生效：{tenor}期，首期{first_due}应还¥{amount}。",
            en="Your new plan for {plan} is active: {tenor} installments, the first of ¥{amount} "
            "due on {first_due}.",
            sample={
                "plan": _SAMPLE_PLAN,
                "tenor": 12,
                "amount": Decimal("98.50"),
                "first_due": date(2027, 1, 5),
            },
        ),
        MessageTemplate(
            "plan_extended",
            NotificationCategory.TRANSACTIONAL,
            zh="您的{plan}第{seq}期已延期至{due_date}，届时应还¥{amount}（含延期手续费¥{fee}）。",
            en="Installment {seq} of {plan} is now due on {due_date}: ¥{amount}, "
            "including an extension fee of ¥{fee}.",
            sample={
                "plan": _SAMPLE_PLAN,
                "seq": 3,
                "due_date": date(2026, 12, 12),
                "amount": Decimal("106.00"),
                "fee": Decimal("0.00"),
            },
        ),
        MessageTemplate(
            "negotiation_rejected",
            NotificationCategory.TRANSACTIONAL,
            zh="很抱歉，您的{plan}分期申请未通过：{reason}。如有疑问请联系客服{hotline}。",
            en="Sorry, your installment application for {plan} was not approved: {reason}. "
            "Questions? Call us: {hotline}.",
            sample={"plan": _SAMPLE_PLAN, "reason": "income_not_verified"},
        ),
        MessageTemplate(
            "negotiation_info_requested",
            NotificationCategory.TRANSACTIONAL,
            zh="您的{plan}协商还款申请需要补充材料，请登录查看并提交。",
            en="Your application for {plan} needs more information. Sign in to see what and send it.",
            sample={"plan": _SAMPLE_PLAN},
        ),
        MessageTemplate(
            "negotiation_expired",
            NotificationCategory.TRANSACTIONAL,
            zh="您的{plan}协商方案已过期未确认，如需协商请重新申请，如有疑问请联系客服{hotline}。",
            en="The offer for {plan} expired without acceptance. You can apply again. "
            "Questions? Call us: {hotline}.",
            sample={"plan": _SAMPLE_PLAN},
        ),
        MessageTemplate(
            "otp",
            NotificationCategory.SECURITY,
            zh="验证码{code}，用于{purpose}，{ttl}分钟内有效。请勿告诉他人。",
            en="Your code is {code} for {purpose}, valid {ttl} minutes. Never share it.",
            sample={"code": "402913", "purpose": "bind_card", "ttl": 5},
            secret_keys=("code",),
        ),
        # 投诉 (repayments.services.complaints): receipt, each deadline extension, the decision.
        MessageTemplate(
            "complaint_received",
            NotificationCategory.TRANSACTIONAL,
            zh="您的投诉{ref}已受理，我们将在{deadline}前答复您。",
            en="We received your complaint {ref} and will answer it by {deadline}.",
            sample={"ref": "TS-1a2b3c4d", "deadline": date(2026, 12, 15)},
        ),
        MessageTemplate(
            "complaint_extended",
            NotificationCategory.TRANSACTIONAL,
            zh="您的投诉{ref}答复期限延至{deadline}，原因：{why}。",
            en="The answer to your complaint {ref} is now due by {deadline}. Why: {why}.",
            sample={"ref": "TS-1a2b3c4d", "deadline": date(2026, 12, 30), "why": "需核实银行记录"},
        ),
        MessageTemplate(
            "complaint_resolved",
            NotificationCategory.TRANSACTIONAL,
            zh="您的投诉{ref}已处理完毕，请登录查看处理结果。如有疑问请联系客服{hotline}。",
            en="Your complaint {ref} has been resolved. Sign in to read the decision. "
            "Questions? Call us: {hotline}.",
            sample={"ref": "TS-1a2b3c4d"},
        ),
        MessageTemplate(
            "complaint_rejected",
            NotificationCategory.TRANSACTIONAL,
            zh="您的投诉{ref}经核查未予支持，请登录查看原因。如有疑问请联系客服{hotline}。",
            en="Your complaint {ref} was not upheld. Sign in to read why. Questions? Call us: {hotline}.",
            sample={"ref": "TS-1a2b3c4d"},
        ),
        MessageTemplate(
            # A staff waiver (减免) applied: what was waived and what is left.
            "adjustment_applied",
            NotificationCategory.TRANSACTIONAL,
            zh="{name}您好，{plan}已为您减免{waived}¥{amount}，剩余待还¥{remaining}。",
            en="Dear {name}, we waived ¥{amount} of {waived} on {plan}. Remaining: ¥{remaining}.",
            sample={
                "plan": _SAMPLE_PLAN,
                "waived": "penalty",
                "amount": Decimal("150.00"),
                "remaining": Decimal("954.00"),
            },
        ),
        MessageTemplate(
            # Support switched auto-debit on for the customer, who asked (on the phone, in the app chat).
            "autodebit_on_by_staff",
            NotificationCategory.SECURITY,
            zh="应您的要求，客服已开启{plan}的自动扣款（尾号{card_last4}）。如非本人要求，请联系客服{hotline}。",
            en="At your request our support turned auto-debit on for {plan} (card ending {card_last4}). "
            "Not you? Call us: {hotline}.",
            sample={"plan": _SAMPLE_PLAN, "card_last4": "1234"},
        ),
        MessageTemplate(
            # A payment holiday offered by support (installments.services.holidays): accepted with an SMS
            # code on the plan's holiday page (sign-in needed; nothing secret in the link).
            "holiday_offered",
            NotificationCategory.TRANSACTIONAL,
            zh="{plan}可申请暂停还款{periods}期，请于{expires}前确认：{link}",
            en="{plan}: skip {periods} payment(s), next due {next_due}, fee ¥{fee}. Accept by {expires}: "
            "{link}",
            sample={
                "plan": _SAMPLE_PLAN,
                "periods": 2,
                "next_due": date(2027, 2, 5),
                "fee": Decimal("12.00"),
                "expires": date(2026, 12, 8),
                "link": "http://127.0.0.1:8000/h/0a1b2c3d/",
            },
        ),
        MessageTemplate(
            "holiday_applied",
            NotificationCategory.TRANSACTIONAL,
            zh="{plan}还款假期已生效，暂停{periods}期，下期{next_due}应还¥{amount}。",
            en="Your payment holiday on {plan} is on: {periods} payment(s) skipped; ¥{amount} is next due "
            "on {next_due}.",
            sample={
                "plan": _SAMPLE_PLAN,
                "periods": 2,
                "next_due": date(2027, 2, 5),
                "amount": Decimal("118.00"),
            },
        ),
        MessageTemplate(
            "autodebit_off_by_staff",
            NotificationCategory.SECURITY,
            zh="应您的要求，客服已关闭{plan}的自动扣款，请按时主动还款。如非本人要求，请联系客服{hotline}。",
            en="At your request our support turned auto-debit off for {plan}; please repay on time "
            "yourself. Not you? Call us: {hotline}.",
            sample={"plan": _SAMPLE_PLAN},
        ),
        MessageTemplate(
            # Support cleared a sign-in lockout (too many wrong passwords or codes) at the customer's request.
            "signin_unlocked",
            NotificationCategory.SECURITY,
            zh="应您的要求，客服已解除您账户的登录锁定，现在可以重新登录。如非本人要求，请联系客服{hotline}。",
            en="At your request our support unlocked sign-in to your account; you can sign in again. "
            "Not you? Call us: {hotline}.",
        ),
        MessageTemplate(
            # The daily sweep stopped a plan's penalty for good: it reached its cap or the cost ceiling.
            "penalty_capped",
            NotificationCategory.TRANSACTIONAL,
            zh="{name}您好，{plan}的违约金已达上限，此后不再收取违约金，累计¥{total}。",
            en="Dear {name}, the late fees on {plan} reached their cap: you will not be charged more "
            "late fees on it. Total: ¥{total}.",
            sample={"plan": _SAMPLE_PLAN, "total": Decimal("300.00")},
        ),
    )
}


class UnknownTemplate(KeyError):
    pass


def get_template(code: str) -> MessageTemplate:
    try:
        return TEMPLATES[code]
    except KeyError:
        raise UnknownTemplate(code) from None


def signature(language: str) -> str:
    if language == EN:
        return settings.SMS_SIGNATURE_EN
    return settings.SMS_SIGNATURE_ZH


def _format_value(key: str, value: object, language: str) -> str:
    zh = language != EN
    if key in PLAIN_WORDS and isinstance(value, str):
        words = PLAIN_WORDS[key].get(value) or PLAIN_WORDS[key].get("other") or (value, value)
        return words[0] if zh else words[1]
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, datetime):
        value = timezone.localtime(value).date()
    if isinstance(value, date):
        return f"{value.month}月{value.day}日" if zh else value.strftime("%d %b").lstrip("0")
    if isinstance(value, float):
        raise TypeError("Money and rates are Decimal; a float reached an SMS text.")
    return str(value)


def render_message(
    template: MessageTemplate, *, language: str, context: dict[str, object], redact: bool = False
) -> str:
    """The full SMS text, signature first, with every value formatted and masked for ``language``."""
    language = language if language in LANGUAGES else ZH
    body = template.text(language)
    values: dict[str, str] = {}
    for _, key, _, _ in Formatter().parse(body):
        if key is None or key in _FILLED_BY_US:
            continue
        if key not in context:
            raise KeyError(f"SMS template {template.code!r} needs {key!r} in its context")
        if redact and key in template.secret_keys:
            values[key] = "******"
            continue
        values[key] = _format_value(key, context[key], language)
    if "{advice}" in body:
        advice = _FAILED_DEBIT_ADVICE.get(str(context.get("reason")), _DEFAULT_ADVICE)
        values["advice"] = advice[0] if language != EN else advice[1]
    values["hotline"] = _HOTLINE_MARK
    text = _LONG_DIGITS.sub(lambda m: "*" * 4 + m.group()[-4:], signature(language) + body.format_map(values))
    # After the masking: the hotline is ours to show in full, however many digits it has (4008205566).
    return text.replace(_HOTLINE_MARK, settings.SERVICE_HOTLINE)


def secret_values(template: MessageTemplate, *, language: str, context: dict[str, object]) -> list[str]:
    """The secret values as they appear in the rendered text, so an error message can be scrubbed of them."""
    language = language if language in LANGUAGES else ZH
    return [_format_value(key, context[key], language) for key in template.secret_keys if key in context]


# The reply the ``negotiation_submitted`` SMS promises ("3个工作日" / "3 working days"): the support start
# page counts the applications still waiting on us past it. Change the SMS text and this together
# (tests/repayments/test_support_start.py checks they agree).
NEGOTIATION_REPLY_WORKING_DAYS = 3

# What staff call each template in the outbox (the admin shows these, never the code). A template added
# without a name here reads as its code in words; tests/notifications/test_template_names.py asks for one.
TEMPLATE_NAMES: dict[str, StrOrPromise] = {
    "due_reminder": gettext_lazy("Due-date reminder"),
    "autodebit_scheduled": gettext_lazy("Auto-debit coming"),
    "autodebit_succeeded": gettext_lazy("Auto-debit succeeded"),
    "autodebit_failed": gettext_lazy("Auto-debit failed"),
    "autodebit_disabled": gettext_lazy("Auto-debit turned off"),
    "autodebit_card_changed": gettext_lazy("Auto-debit card changed"),
    "repayment_received": gettext_lazy("Payment received"),
    "repayment_refunded": gettext_lazy("Payment refunded"),
    "repayment_scheduled": gettext_lazy("Payment scheduled"),
    "overdue_reminder": gettext_lazy("Overdue reminder"),
    "overdue_summary": gettext_lazy("Overdue reminder (several plans)"),
    "charge_off_notice": gettext_lazy("Overdue: auto-debit and reminders stopped"),
    "card_bound": gettext_lazy("Card bound"),
    "card_removed": gettext_lazy("Card removed"),
    "negotiation_submitted": gettext_lazy("Negotiation application received"),
    "negotiation_offer": gettext_lazy("Negotiated plan offered"),
    "plan_restaged": gettext_lazy("Secondary installment plan created"),
    "plan_extended": gettext_lazy("Due date extended"),
    "negotiation_rejected": gettext_lazy("Negotiation application declined"),
    "negotiation_info_requested": gettext_lazy("More documents asked for"),
    "negotiation_expired": gettext_lazy("Negotiated offer expired"),
    "otp": gettext_lazy("SMS verification code"),
    "payment_link": gettext_lazy("Payment link sent by support"),
    "complaint_received": gettext_lazy("Complaint received"),
    "complaint_extended": gettext_lazy("Complaint deadline extended"),
    "complaint_resolved": gettext_lazy("Complaint resolved"),
    "complaint_rejected": gettext_lazy("Complaint not upheld"),
    "adjustment_applied": gettext_lazy("Penalty or fee waived"),
    "autodebit_on_by_staff": gettext_lazy("Auto-debit turned on by support"),
    "autodebit_off_by_staff": gettext_lazy("Auto-debit turned off by support"),
    "signin_unlocked": gettext_lazy("Sign-in unlocked by support"),
    "holiday_offered": gettext_lazy("Payment holiday offered"),
    "holiday_applied": gettext_lazy("Payment holiday applied"),
    "penalty_capped": gettext_lazy("Penalty stopped at its cap"),
}


def template_name(code: str) -> str:
    """The template's name in the active language."""
    return str(TEMPLATE_NAMES.get(code, code.replace("_", " ").capitalize()))
