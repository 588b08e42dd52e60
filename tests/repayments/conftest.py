"""Fixtures for cards and repayments: Luhn-valid numbers, a bound card, plans in each state."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import OtpPurpose, User
from accounts.services import otp_request
from accounts.signals import otp_issued
from installments.models import InstallmentPlan, PlanStatus
from installments.services import overdue_sweep, plan_create
from repayments.models import BankCard
from repayments.services import card_bind
from repayments.staff import AGENT, APPROVER
from tests.repayments.negotiation_support import staff_user


def luhn_complete(prefix: str, length: int = 16) -> str:
    """A Luhn-valid card number starting with ``prefix``."""
    body = prefix.ljust(length - 1, "0")
    for check in "0123456789":
        candidate = body + check
        total = 0
        for index, char in enumerate(reversed(candidate)):
            digit = int(char) * (2 if index % 2 else 1)
            total += digit - 9 if digit > 9 else digit
        if total % 10 == 0:
            return candidate
    raise AssertionError("unreachable")


ICBC_DEBIT = luhn_complete("622202000000123")
CMB_DEBIT = luhn_complete("622588000000456")
ICBC_CREDIT = luhn_complete("625330000000789")


class CodeCatcher:
    """Catches the one-time codes sent, as the customer reading the SMS would."""

    def __init__(self) -> None:
        self.codes: list[str] = []
        otp_issued.connect(self._receive, dispatch_uid="tests-code-catcher")

    def _receive(self, sender, **kwargs) -> None:
        self.codes.append(kwargs["code"])

    def close(self) -> None:
        otp_issued.disconnect(dispatch_uid="tests-code-catcher")

    def request(self, user: User, purpose: str = OtpPurpose.BIND_CARD) -> str:
        # Throttling is per minute; tests move the code's creation back so they can ask again at once.
        from accounts.models import OneTimeCode

        OneTimeCode.objects.filter(user=user).update(created_at=timezone.now() - timedelta(hours=2))
        otp_request(user=user, purpose=purpose)
        return self.codes[-1]


@pytest.fixture
def codes():
    catcher = CodeCatcher()
    yield catcher
    catcher.close()


@pytest.fixture
def bind(codes):
    def _bind(user: User, number: str = ICBC_DEBIT, **kwargs) -> BankCard:
        return card_bind(
            customer=user,
            number=number,
            holder_name=kwargs.pop("holder_name", user.real_name),
            reserved_phone=kwargs.pop("reserved_phone", "13811112222"),
            otp_code=codes.request(user),
            **kwargs,
        )

    return _bind


@pytest.fixture
def card(customer, bind) -> BankCard:
    return bind(customer)


@pytest.fixture
def current_plan(customer, flat_product) -> InstallmentPlan:
    """1,200.00 over 12 at 0.5%: 106.00 a month, nothing due yet."""
    return plan_create(
        customer=customer,
        product=flat_product,
        principal=Decimal("1200.00"),
        tenor=12,
        purchase_date=timezone.localdate() - timedelta(days=5),
    )


@pytest.fixture
def overdue_plan(customer, flat_product) -> InstallmentPlan:
    """The same plan bought 70 days ago: installments 1 and 2 are overdue."""
    plan = plan_create(
        customer=customer,
        product=flat_product,
        principal=Decimal("1200.00"),
        tenor=12,
        purchase_date=timezone.localdate() - timedelta(days=70),
        merchant_order_ref="OVERDUE-1",
    )
    # No penalty on this plan (its amounts are the schedule's), so tests read the allocation plainly.
    InstallmentPlan.objects.filter(pk=plan.pk).update(penalty_daily_rate=0)
    overdue_sweep(as_of=timezone.localdate())
    plan.refresh_from_db()
    return plan


# --- negotiated plans: staff and a late plan ---------------------------------------------------------


@pytest.fixture
def agent(db) -> User:
    return staff_user("+8613700000001", AGENT)


@pytest.fixture
def approver(db) -> User:
    return staff_user("+8613700000002", APPROVER)


@pytest.fixture
def approver2(db) -> User:
    return staff_user("+8613700000003", APPROVER)


@pytest.fixture
def late_plan(customer, flat_product) -> InstallmentPlan:
    """Bought 70 days ago, swept: two installments overdue, penalty accrued past the grace days."""
    plan = plan_create(
        customer=customer,
        product=flat_product,
        principal=Decimal("1200.00"),
        tenor=12,
        purchase_date=timezone.localdate() - timedelta(days=70),
    )
    overdue_sweep(as_of=timezone.localdate())
    plan.refresh_from_db()
    assert plan.status == PlanStatus.OVERDUE
    return plan


@pytest.fixture(autouse=True)
def ledger_stays_clean(request):
    """After every repayments test the ledger's invariants hold (check_ledger passes after all tests)."""
    names = set(request.fixturenames)
    uses_db = names & {"db", "transactional_db"} or request.node.get_closest_marker("django_db")
    if not uses_db or "ledger_corrupted" in request.keywords:
        yield
        return
    # Set the database up before this fixture, so it is still there when this fixture finishes.
    request.getfixturevalue("transactional_db" if "transactional_db" in names else "db")
    yield
    from repayments.ledger import ledger_breaches

    assert list(ledger_breaches()) == []
