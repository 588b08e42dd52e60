"""The customer's documents as files: the receipt (还款凭证), the statement (账单明细) and the payoff
certificate (结清证明) as PDF, the statement as CSV.

PDFs are drawn with ReportLab in its built-in CID font STSong-Light: the viewer supplies the glyphs, so
Chinese renders with no font file on the server, and the text stays extractable (the tests read it back
with pypdf). Every document is written in the customer's language (``User.language``), whatever the
language of the request that asked for it, and shows a card only as bank and last four digits.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from xml.sax.saxutils import escape

from django.utils import timezone, translation
from django.utils.translation import gettext as _
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from accounts.models import User
from installments.models import PayoffCertificate
from installments.selectors import CustomerStatement
from installments.templatetags.money import yuan
from repayments.selectors import Receipt

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))

_TITLE = ParagraphStyle("title", fontName=FONT, fontSize=16, leading=22, spaceAfter=6)
_HEADING = ParagraphStyle("heading", fontName=FONT, fontSize=12, leading=16, spaceBefore=8, spaceAfter=4)
_BODY = ParagraphStyle("body", fontName=FONT, fontSize=10, leading=14)
_TABLE = TableStyle(
    [
        ("FONT", (0, 0), (-1, -1), FONT, 9),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
)
_PAIRS = TableStyle([("FONT", (0, 0), (-1, -1), FONT, 10), ("TEXTCOLOR", (0, 0), (0, -1), colors.grey)])


def local_time(value: datetime) -> str:
    """A moment in Beijing time, the same way in both languages (the caller passes local time)."""
    return _("%(time)s (Beijing time)") % {"time": value.strftime("%Y-%m-%d %H:%M")}


def _pdf(title: str, story: Sequence[Flowable]) -> bytes:
    """A4 with the title on top. ``Paragraph`` reads a mini-markup: text from data is escaped first."""
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer, pagesize=A4, title=title, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=18 * mm
    )
    document.build([Paragraph(title, _TITLE), *story])
    return buffer.getvalue()


def _pairs(rows: Sequence[tuple[str, str]]) -> Table:
    return Table([list(row) for row in rows], colWidths=[45 * mm, 125 * mm], style=_PAIRS, hAlign="LEFT")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[float]) -> Table:
    return Table([list(header), *[list(r) for r in rows]], colWidths=list(widths), style=_TABLE, repeatRows=1)


# --- 还款凭证 ---------------------------------------------------------------------------------------------


def receipt_pdf(receipt: Receipt, *, language: str) -> bytes:
    with translation.override(language):
        repayment = receipt.repayment
        pairs = [
            (_("Amount"), yuan(repayment.amount)),
            (_("Time"), local_time(receipt.settled_at)),
            (_("Plan"), repayment.plan.display_name),
            (_("Card"), receipt.card or "-"),
            (_("How"), _("Auto-debit") if receipt.auto_debit else _("Paid by you")),
            (_("Reference"), receipt.reference),
        ]
        if receipt.bank_reference:
            pairs.append((_("Bank reference"), receipt.bank_reference))
        if receipt.reversed_at:
            pairs.append((_("Reversed"), local_time(receipt.reversed_at)))
        story: list[Flowable] = [_pairs(pairs)]
        if receipt.reversed_at:
            story.append(Paragraph(_("This payment was reversed; it no longer counts."), _HEADING))
        story.append(Paragraph(_("How it was applied"), _HEADING))
        story.append(
            _table(
                [_("Installment"), _("Due date"), _("Part"), _("Amount")],
                [
                    [
                        f"#{line.sequence}",
                        line.due_date.isoformat(),
                        _("%(part)s (waived)") % {"part": line.component_label}
                        if line.waived
                        else line.component_label,
                        yuan(line.amount),
                    ]
                    for line in receipt.lines
                ],
                [28 * mm, 40 * mm, 60 * mm, 42 * mm],
            )
        )
        return _pdf(_("Repayment receipt"), story)


# --- 账单明细 ---------------------------------------------------------------------------------------------


def _scope(statement: CustomerStatement) -> str:
    return statement.plan.display_name if statement.plan else _("All plans")


def statement_pdf(statement: CustomerStatement, *, language: str) -> bytes:
    with translation.override(language):
        summary = [
            (_("Period"), f"{statement.date_from.isoformat()} – {statement.date_to.isoformat()}"),
            (_("Plans"), _scope(statement)),
            (_("Opening balance"), yuan(statement.opening)),
            *[(label, yuan(total)) for _category, label, total in statement.totals],
            (_("Closing balance"), yuan(statement.closing)),
        ]
        story: list[Flowable] = [_pairs(summary), Spacer(1, 4 * mm), Paragraph(_("Movements"), _HEADING)]
        story.append(
            _table(
                [_("Date"), _("Plan"), _("What"), _("Reference"), _("Amount"), _("Balance")],
                [
                    [
                        item.business_date.isoformat(),
                        Paragraph(escape(item.plan.display_name), _BODY),
                        item.label,
                        item.reference,
                        yuan(item.amount),
                        yuan(item.balance),
                    ]
                    for item in statement.items
                ]
                or [["", "", _("No movements in this period."), "", "", ""]],
                [22 * mm, 40 * mm, 32 * mm, 22 * mm, 27 * mm, 27 * mm],
            )
        )
        return _pdf(_("Statement"), story)


def statement_csv(statement: CustomerStatement, *, language: str) -> str:
    """One row per movement, with the opening and closing balances as the first and last rows; amounts
    as plain decimals (a spreadsheet adds them up)."""
    with translation.override(language):
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([_("Date"), _("Plan"), _("What"), _("Reference"), _("Amount"), _("Balance")])
        writer.writerow(
            [
                statement.date_from.isoformat(),
                _scope(statement),
                _("Opening balance"),
                "",
                "",
                _plain(statement.opening),
            ]
        )
        for item in statement.items:
            writer.writerow(
                [
                    item.business_date.isoformat(),
                    item.plan.display_name,
                    item.label,
                    item.reference,
                    _plain(item.amount),
                    _plain(item.balance),
                ]
            )
        writer.writerow(
            [
                statement.date_to.isoformat(),
                _scope(statement),
                _("Closing balance"),
                "",
                "",
                _plain(statement.closing),
            ]
        )
        return out.getvalue()


def _plain(amount: Decimal) -> str:
    return f"{amount:.2f}"


# --- 结清证明 ---------------------------------------------------------------------------------------------


def certificate_pdf(certificate: PayoffCertificate, *, customer: User, verify_url: str) -> bytes:
    with translation.override(customer.language):
        plan = certificate.plan
        issued = timezone.localtime(certificate.issued_at).date()
        story: list[Flowable] = [
            Paragraph(
                _(
                    "This certifies that %(name)s has repaid in full the installment plan %(plan)s "
                    "(purchase date %(date)s). Nothing is owed on it."
                )
                % {
                    "name": escape(customer.masked_name),
                    "plan": escape(plan.display_name),
                    "date": plan.purchase_date.isoformat(),
                },
                _BODY,
            ),
            Spacer(1, 6 * mm),
            _pairs(
                [
                    (_("Certificate number"), certificate.number),
                    (_("Issued on"), issued.isoformat()),
                    (_("Verification code"), certificate.code),
                    (_("Check it at"), verify_url),
                ]
            ),
        ]
        if certificate.revoked_at:
            story.append(Paragraph(_("This certificate has been revoked."), _HEADING))
        return _pdf(_("Payoff certificate"), story)
