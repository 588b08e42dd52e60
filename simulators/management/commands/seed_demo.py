"""Demo data for a fresh machine: products like 白条, three customers (current, due today, overdue, with a
negotiated-plan application) and support staff (an agent and an approver).

Idempotent: running it again creates nothing twice. Refused where ``ALLOW_DEMO_DATA`` is off (production).

``--reset`` replays the stories from scratch: it empties the database (``flush``) and seeds again, so the
due-today and overdue stories are about today once more. Allowed only with ``DEBUG`` on and on SQLite (the
``make run`` default): on PostgreSQL the journal tables are append-only (triggers refuse DELETE, by design),
so the demo's postings cannot be removed there; a fresh database is the honest way to start over.

With ``PAYMENT_GATEWAY=http`` the cards are bound and funded at the bank service. ``make run`` seeds before
it starts that service, so when nothing answers at ``GATEWAY_HTTP_URL`` (a loopback address) the service is
run inside this command for the seed, on the same port and books the real process then opens.
"""

from __future__ import annotations

import io
from contextlib import ExitStack
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils import timezone
from pypdf import PdfWriter

from accounts.models import User
from installments.ledger import OPEN_STATUSES
from installments.models import (
    Installment,
    InstallmentPlan,
    InstallmentProduct,
    LoanPrimeRate,
    NegotiationReason,
    PenaltyBase,
    PlanStatus,
    PrepaymentFeePolicy,
)
from installments.schedules import add_months
from installments.selectors import plan_late_cost
from installments.services import negotiation_apply, overdue_sweep, plan_create
from notifications.services import notification_create
from repayments.gateway import GatewayError, get_gateway
from repayments.http_gateway import HttpGateway
from repayments.models import AutoDebitMandate, BankCard
from repayments.services import autodebit_set, card_bind_verified, overdue_reminders_send
from repayments.staff import AGENT, APPROVER, FINANCE, LEAD
from simulators.bank import simulator_set_balance
from simulators.bank_service.embedded import embedded_bank

DEMO_PASSWORD = "demo-pass-2026"
ADMIN_PHONE = "+8613900000000"
ADMIN_PASSWORD = "admin-demo-2026"
STAFF_PASSWORD = "staff-demo-2026"
# Support staff in the two groups of repayments/staff.py: the agent makes offers, the approver approves.
STAFF = [
    ("+8613900000001", "客服小陈", AGENT),
    ("+8613900000002", "审批主管", APPROVER),
    ("+8613900000003", "财务小王", FINANCE),
    ("+8613900000004", "组长老李", LEAD),
]


def demo_payslip() -> bytes:
    """A one-page PDF written by pypdf: the upload checks parse documents, so the demo's must be real."""
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


PRODUCTS = [
    {
        "code": "baitiao",
        "name": "白条分期",
        "description": "每期手续费 = 本金 × 0.5%，本金平均分摊",
        "fee_method": "flat_fee",
        "fee_rate": Decimal("0.005000"),
        "tenors": [3, 6, 12, 24],
        "prepayment_fee_policy": PrepaymentFeePolicy.WAIVE_FUTURE_FEES,
        # The cost of paying late (README "Fair cost"): penalty on the overdue principal only, at most 25% of
        # the principal in all, fees and penalties together at most 24% a year (IRR).
        "penalty_base": PenaltyBase.PRINCIPAL,
        "penalty_cap_percent": Decimal("25.00"),
        "max_all_in_apr_percent": Decimal("24.00"),
    },
    {
        "code": "dengebenxi",
        "name": "等额本息消费贷",
        "description": "年利率 12%，每月还款额相同",
        "fee_method": "equal_installment",
        "fee_rate": Decimal("0.120000"),
        "tenors": [6, 12, 24],
        "max_principal": Decimal("200000.00"),
        "prepayment_fee_policy": PrepaymentFeePolicy.PERCENT_OF_PRINCIPAL,
        "prepayment_fee_rate": Decimal("0.010000"),
        "penalty_base": PenaltyBase.PRINCIPAL,
        "penalty_cap_percent": Decimal("25.00"),
        "max_all_in_apr_percent": Decimal("24.00"),
    },
    {
        "code": "dengebenjin",
        "name": "等额本金消费贷",
        "description": "年利率 10.8%，利息逐月递减",
        "fee_method": "equal_principal",
        "fee_rate": Decimal("0.108000"),
        "tenors": [3, 6, 12],
        "max_principal": Decimal("100000.00"),
        "penalty_base": PenaltyBase.PRINCIPAL,
        "penalty_cap_percent": Decimal("25.00"),
        "max_all_in_apr_percent": Decimal("24.00"),
    },
]
# The one-year LPR on file (staff keep it in the admin); no demo product follows it (ceiling_follows_lpr).
DEMO_LPR = (date(2025, 5, 20), Decimal("3.00"))


def _purchase_date_due_on(today: date, months_back: int) -> date | None:
    """A purchase date whose ``months_back``-th due date is ``today`` (none exists on some month ends)."""
    for days in range(27 * months_back, 32 * months_back + 1):
        candidate = today - timedelta(days=days)
        if add_months(candidate, months_back) == today:
            return candidate
    return None


class Command(BaseCommand):
    help = "Create demo products, customers and plans (idempotent); --reset starts them over (SQLite only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Empty the development database first, then seed: the stories start over from today. "
            "Refused unless DEBUG is on and the database is SQLite.",
        )

    def handle(self, *args: object, **options: object) -> None:
        if not settings.ALLOW_DEMO_DATA:
            raise CommandError("Demo data is disabled here (ALLOW_DEMO_DATA is off, as in production).")
        if options.get("reset"):
            _reset_refusal = reset_refusal()
            if _reset_refusal:
                raise CommandError(_reset_refusal)
            # Every table, not only the demo customers' rows: on a development database that is the
            # demo, and it spares a deletion order through the journal and the protected foreign keys.
            call_command("flush", interactive=False, verbosity=0)
            self.stdout.write("Development database emptied (--reset).")
        today = timezone.localdate()
        with ExitStack() as bank:
            gateway = get_gateway()
            if isinstance(gateway, HttpGateway) and not _bank_answers(gateway):
                try:
                    bank.enter_context(embedded_bank(gateway.url))
                    bank.callback(gateway.close)  # no pooled connection outlives that bank
                except (ValueError, OSError) as exc:
                    raise CommandError(f"The bank at {gateway.url} does not answer: {exc}") from None
            self._seed(today)

    def _seed(self, today: date) -> None:
        with transaction.atomic():
            products = {spec["code"]: self._product(spec) for spec in PRODUCTS}
            LoanPrimeRate.objects.get_or_create(
                effective_on=DEMO_LPR[0], defaults={"one_year_percent": DEMO_LPR[1]}
            )
            admin = User.objects.filter(phone=ADMIN_PHONE).first()
            if admin is None:
                User.objects.create_superuser(ADMIN_PHONE, ADMIN_PASSWORD, real_name="客服主管")
            for phone, name, group in STAFF:
                self._staff(phone, name, group)
            current = self._customer("+8613800000001", "张三")
            due_today = self._customer("+8613800000002", "李四")
            overdue = self._customer("+8613800000003", "王五", language="en")

            self._plan(
                current,
                products["baitiao"],
                "JD-DEMO-0001",
                "iPhone 手机",
                "3600.00",
                12,
                today - timedelta(days=10),
            )
            self._plan(
                current,
                products["dengebenjin"],
                "JD-DEMO-0002",
                "笔记本电脑",
                "8000.00",
                6,
                today - timedelta(days=3),
            )
            months_back = 1
            purchase = _purchase_date_due_on(today, 1)
            if purchase is None:  # e.g. on Mar 30 no purchase a month earlier falls due today
                months_back, purchase = 2, _purchase_date_due_on(today, 2)
            if purchase is None:  # never: one of the two months before has a day of this number
                raise CommandError(f"No purchase date one or two months back falls due on {today}.")
            self._plan(due_today, products["baitiao"], "JD-DEMO-0003", "洗衣机", "2400.00", 6, purchase)
            self._plan(
                overdue,
                products["dengebenxi"],
                "JD-DEMO-0004",
                "Sofa",
                "6000.00",
                12,
                today - timedelta(days=70),
            )
            overdue_sweep(as_of=today)
            self._reminders(today)
            self._card(current, "6222020000001237", Decimal("20000.00"))
            self._card(due_today, "6225880000004565", Decimal("5000.00"))
            self._card(overdue, "6217000000007894", Decimal("300.00"))
            for customer, ref in ((current, "JD-DEMO-0001"), (due_today, "JD-DEMO-0003")):
                plan = InstallmentPlan.objects.get(customer=customer, merchant_order_ref=ref)
                if not AutoDebitMandate.objects.filter(plan=plan).exists():
                    autodebit_set(customer=customer, plan=plan, enabled=True)
            self._negotiation(
                overdue, InstallmentPlan.objects.get(customer=overdue, merchant_order_ref="JD-DEMO-0004")
            )

        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        first = InstallmentPlan.objects.get(customer=current, merchant_order_ref="JD-DEMO-0001")
        late = plan_late_cost(first)
        self.stdout.write(
            f"  {first.display_name}: penalty {late.daily_percent}% a day "
            f"({late.annualised_percent}% a year), cap ¥{late.cap_amount:,.2f}, "
            f"ceiling {late.ceiling_percent}%; installment {late.installment_sequence} late costs at most "
            + ", ".join(f"{row.days}d ¥{row.penalty:,.2f}" for row in late.table)
            + "  (plan page, 'If you pay late')"
        )
        self.stdout.write(f"  admin (superuser): {ADMIN_PHONE} / {ADMIN_PASSWORD}  -> /admin/")
        for phone, name, group in STAFF:
            self.stdout.write(f"  staff {name} ({group}): {phone} / {STAFF_PASSWORD}  -> /admin/")
        for user, story in (
            (current, "current"),
            (due_today, f"installment {months_back} due today"),
            (overdue, "overdue"),
        ):
            card = BankCard.objects.filter(customer=user, status="active").first()
            self.stdout.write(
                f"  customer {user.real_name} ({story}): {user.phone} / {DEMO_PASSWORD}"
                + (f"  card {card}" if card else "")
            )

    def _reminders(self, today: date) -> None:
        """Today's reminders for the demo customers, so the console sender shows the SMS pipeline at work:
        a due reminder per installment due today, and one overdue SMS per customer with the total."""
        late_customers = set()
        for installment in Installment.objects.filter(
            plan__merchant_order_ref__startswith="JD-DEMO-",
            due_date__lte=today,
            status__in=OPEN_STATUSES,
        ).select_related("plan__customer"):
            plan = installment.plan
            if installment.due_date < today:
                late_customers.add(plan.customer_id)
                continue
            notification_create(
                user=plan.customer,
                code="due_reminder",
                context={
                    "plan": plan.description,
                    "seq": installment.sequence,
                    "amount": installment.outstanding,
                    "due_date": installment.due_date,
                },
                dedupe_key=f"demo:due_reminder:{installment.pk}:{today.isoformat()}",
            )
        overdue_reminders_send(business_date=today, customer_ids=late_customers)

    def _card(self, customer: User, number: str, balance: Decimal) -> None:
        """A bound debit card with money at the simulated bank (the demo's customers verified at seeding)."""
        bound = BankCard.objects.filter(customer=customer, status="active").first()
        gateway = get_gateway()
        if bound is not None and isinstance(gateway, HttpGateway) and not _known_at(gateway, bound):
            # Seeded earlier on the other bank (PAYMENT_GATEWAY=simulated, or the bank's file removed).
            self.stderr.write(
                f"  {customer.real_name}'s card {bound} is unknown to the bank at {gateway.url}: its "
                "payments will be declined. Start afresh (remove var/db.sqlite3 and var/bank.sqlite3) or "
                "keep the bank the data was seeded with (PAYMENT_GATEWAY=simulated)."
            )
        if bound is None:
            card = card_bind_verified(
                customer=customer,
                number=number,
                holder_name=customer.real_name,
                reserved_phone=str(customer.phone),
            )
            if isinstance(gateway, HttpGateway):  # PAYMENT_GATEWAY=http: the bank service's back office
                gateway.simulator_admin(
                    "POST", "balance", {"token_or_fingerprint": card.gateway_token, "amount": str(balance)}
                )
            else:
                simulator_set_balance(card.gateway_token, balance)

    def _staff(self, phone: str, name: str, group: str) -> User:
        user = User.objects.filter(phone=phone).first()
        if user is None:
            user = User.objects.create_user(phone, STAFF_PASSWORD, real_name=name, is_staff=True)
        user.groups.add(Group.objects.get(name=group))
        return user

    def _negotiation(self, customer: User, plan: InstallmentPlan) -> None:
        """The overdue customer has applied for a negotiated plan, with a payslip, for staff to review."""
        if plan.negotiations.exists() or plan.status != PlanStatus.OVERDUE:
            return
        negotiation_apply(
            customer=customer,
            plan_id=plan.pk,
            reason=NegotiationReason.INCOME_DROP,
            reason_detail="Reduced hours since September; I can pay about 300 a month.",
            monthly_income="5000.00",
            employer="Demo Logistics Ltd.",
            requested_tenor=24,
            documents=[ContentFile(demo_payslip(), name="payslip-2026-10.pdf")],
        )

    def _product(self, spec: dict[str, object]) -> InstallmentProduct:
        product, _ = InstallmentProduct.objects.get_or_create(code=spec["code"], defaults=spec)
        return product

    def _customer(self, phone: str, name: str, language: str = "zh-hans") -> User:
        user = User.objects.filter(phone=phone).first()
        if user is None:
            user = User.objects.create_user(phone, DEMO_PASSWORD, real_name=name, language=language)
        return user

    def _plan(
        self,
        customer: User,
        product: InstallmentProduct,
        ref: str,
        description: str,
        principal: str,
        tenor: int,
        purchase_date: date,
    ) -> InstallmentPlan:
        plan = InstallmentPlan.objects.filter(customer=customer, merchant_order_ref=ref).first()
        if plan is None:
            plan = plan_create(
                customer=customer,
                product=product,
                principal=principal,
                tenor=tenor,
                purchase_date=purchase_date,
                merchant_order_ref=ref,
                description=description,
            )
        return plan


def reset_refusal() -> str:
    """Why ``--reset`` may not run here, or an empty string. It deletes everything, so it needs a
    development settings file (DEBUG on) and a database whose journal may be deleted (SQLite)."""
    if not settings.DEBUG:
        return "seed_demo --reset empties the database: it is refused unless DEBUG is on (development)."
    if connection.vendor != "sqlite":
        return (
            f"seed_demo --reset is refused on {connection.vendor}: the journal tables are append-only there "
            "(triggers refuse DELETE), so the demo's postings cannot be removed. Start from a fresh database "
            "instead (dropdb, createdb, then make run), or use the SQLite default (unset DATABASE_URL)."
        )
    return ""


def _bank_answers(gateway: HttpGateway) -> bool:
    """Whether a bank service answers at the gateway's address (any answer but "unreachable")."""
    try:
        gateway.simulator_admin("GET", "balance/tok_probe")
    except GatewayError as exc:
        return exc.code != "unavailable"
    return True


def _known_at(gateway: HttpGateway, card: BankCard) -> bool:
    try:
        gateway.simulator_admin("GET", f"balance/{card.gateway_token}")
    except GatewayError as exc:
        return exc.code != "unknown_card"
    return True
