"""Plans: quotes and creation of original purchases on installments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from core.error_codes import CommonError
from core.errors import ApplicationError
from core.money_input import parse_money
from installments import journal
from installments.errors import InstallmentsError
from installments.models import (
    Installment,
    InstallmentPlan,
    InstallmentProduct,
    InstallmentStatus,
    PlanKind,
    PlanStatus,
)
from installments.schedules import Schedule, ScheduleError, build_schedule
from installments.services.agreements import agreement_record
from installments.services.costs import all_in_ceiling, frozen_cost_terms


@dataclass(frozen=True)
class PlanQuote:
    """What a plan would cost, shown before anything is written (and refused above the maximum APR)."""

    product: InstallmentProduct
    principal: Decimal
    tenor: int
    purchase_date: date
    schedule: Schedule

    @property
    def apr_percent(self) -> Decimal:
        return self.schedule.apr_percent

    @property
    def total_fee(self) -> Decimal:
        return self.schedule.total_fee

    @property
    def total_repayment(self) -> Decimal:
        return self.schedule.total_repayment

    @property
    def first_payment(self) -> Decimal:
        return self.schedule.rows[0].total

    @property
    def first_due_date(self) -> date:
        return self.schedule.rows[0].due_date


def plan_quote(
    *,
    product: InstallmentProduct,
    principal: Decimal | str | int,
    tenor: int,
    purchase_date: date | None = None,
) -> PlanQuote:
    """Validate the request against the product and build its schedule. Writes nothing."""
    amount = parse_money(principal, field="principal")
    purchase_date = purchase_date or timezone.localdate()
    if not product.is_active:
        raise ApplicationError(InstallmentsError.PRODUCT_INACTIVE, _("This product is no longer offered."))
    if tenor not in product.tenors:
        raise ApplicationError(
            InstallmentsError.TENOR_NOT_OFFERED,
            _("%(tenor)s periods is not offered; choose one of %(tenors)s.")
            % {"tenor": tenor, "tenors": ", ".join(str(t) for t in product.tenors)},
            fields={"tenor": _("Not offered by this product.")},
        )
    if amount <= 0:
        raise ApplicationError(
            CommonError.INVALID_AMOUNT,
            _("The principal must be positive."),
            fields={"principal": _("Must be positive.")},
        )
    if amount < product.min_principal:
        raise ApplicationError(
            InstallmentsError.PRINCIPAL_BELOW_MINIMUM,
            _("The minimum amount for this product is %(min)s.") % {"min": product.min_principal},
            fields={"principal": _("Below the minimum.")},
        )
    if amount > product.max_principal:
        raise ApplicationError(
            InstallmentsError.PRINCIPAL_ABOVE_MAXIMUM,
            _("The maximum amount for this product is %(max)s.") % {"max": f"{product.max_principal:,.2f}"},
            fields={"principal": _("Above the maximum.")},
        )
    try:
        schedule = build_schedule(
            fee_method=product.fee_method,
            principal=amount,
            tenor=tenor,
            rate=product.fee_rate,
            purchase_date=purchase_date,
        )
    except ScheduleError as exc:
        raise ApplicationError(InstallmentsError.INVALID_TERMS, str(exc)) from exc
    if schedule.apr_percent > product.max_apr_percent:
        raise ApplicationError(
            InstallmentsError.APR_ABOVE_MAXIMUM,
            _("The annualized rate %(apr)s%% is above this product's maximum of %(max)s%%.")
            % {"apr": schedule.apr_percent, "max": product.max_apr_percent},
        )
    ceiling = all_in_ceiling(product, on=purchase_date)
    if schedule.apr_percent > ceiling:
        # A product that follows 4 x LPR: a fall in the LPR can put its ceiling under the maximum APR.
        raise ApplicationError(
            InstallmentsError.APR_ABOVE_MAXIMUM,
            _("The annualized rate %(apr)s%% is above this product's all-in cost ceiling of %(max)s%%.")
            % {"apr": schedule.apr_percent, "max": ceiling},
        )
    return PlanQuote(
        product=product,
        principal=amount,
        tenor=tenor,
        purchase_date=purchase_date,
        schedule=schedule,
    )


def plan_create(
    *,
    customer: User,
    product: InstallmentProduct,
    principal: Decimal | str | int,
    tenor: int,
    purchase_date: date | None = None,
    merchant_order_ref: str = "",
    description: str = "",
) -> InstallmentPlan:
    """Create a plan and all its installments in one transaction: no plan is ever half-written."""
    if not customer.is_active:
        raise ApplicationError(InstallmentsError.CUSTOMER_INACTIVE, _("This account is disabled."))
    purchase_date = purchase_date or timezone.localdate()
    if purchase_date > timezone.localdate():
        raise ApplicationError(
            InstallmentsError.PURCHASE_DATE_IN_FUTURE,
            _("The purchase date cannot be in the future."),
            fields={"purchase_date": _("In the future.")},
        )
    quote = plan_quote(product=product, principal=principal, tenor=tenor, purchase_date=purchase_date)
    merchant_order_ref = merchant_order_ref.strip()
    try:
        with transaction.atomic():
            plan = InstallmentPlan.objects.create(
                customer=customer,
                product=product,
                kind=PlanKind.ORIGINAL,
                merchant_order_ref=merchant_order_ref,
                description=description.strip(),
                principal=quote.principal,
                tenor=tenor,
                fee_method=product.fee_method,
                fee_rate=product.fee_rate,
                penalty_daily_rate=product.penalty_daily_rate,
                grace_days=product.grace_days,
                charge_off_after_days=product.charge_off_after_days,
                prepayment_fee_policy=product.prepayment_fee_policy,
                prepayment_fee_rate=product.prepayment_fee_rate,
                total_fee=quote.total_fee,
                apr_percent=quote.apr_percent,
                purchase_date=purchase_date,
                first_due_date=quote.first_due_date,
                status=PlanStatus.ACTIVE,
                **frozen_cost_terms(
                    product,
                    principal=quote.principal,
                    purchase_date=purchase_date,
                    flows=[(row.due_date, row.total) for row in quote.schedule.rows],
                ),
            )
            Installment.objects.bulk_create(
                Installment(
                    plan=plan,
                    sequence=row.sequence,
                    due_date=row.due_date,
                    principal_due=row.principal,
                    fee_due=row.fee,
                    status=InstallmentStatus.PENDING,
                )
                for row in quote.schedule.rows
            )
            journal.write([journal.plan_created(plan, fees=quote.total_fee)])
            agreement_record(plan=plan)
    except IntegrityError as exc:
        if (
            merchant_order_ref
            and InstallmentPlan.objects.filter(
                customer=customer, kind=PlanKind.ORIGINAL, merchant_order_ref=merchant_order_ref
            ).exists()
        ):
            raise ApplicationError(
                InstallmentsError.DUPLICATE_MERCHANT_ORDER,
                _("Order %(ref)s is already paid by installments.") % {"ref": merchant_order_ref},
                fields={"merchant_order_ref": _("Already financed.")},
            ) from exc
        raise
    return plan
