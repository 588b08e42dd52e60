"""Shared fixtures. SQLite by default; PostgreSQL + Redis when DATABASE_URL / REDIS_URL are set.

Customers, staff, products and cards are written by the factories (tests/factories.py); plans are built
through ``plan_create`` and the sweep, and the ``bind`` fixture binds through the SMS code. After every
test that used the database the ledger's invariants are checked (``ledger_stays_clean``)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils import timezone, translation
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from accounts.models import User
from installments.models import InstallmentPlan, InstallmentProduct, PlanStatus
from installments.services import overdue_sweep, plan_create
from repayments.ledger import ledger_breaches
from repayments.models import BankCard
from repayments.services import card_bind, close_gateway_pool
from repayments.staff import AGENT, APPROVER
from simulators.bank import close_bank_connections
from tests.cards import ICBC_DEBIT
from tests.factories import BoundCardFactory, CustomerFactory, ProductFactory, StaffFactory
from tests.otp import CodeCatcher

# Property tests fail on their property, never on the machine's load: no per-example deadline (default
# 200 ms) and no "data generation too slow" health check. CI and developers share two cores, and a GC
# pause or a busy neighbour is enough to fail an example of a test that kept hypothesis's defaults
# (test_allocation's two properties did); the other property tests already said so one by one.
hypothesis_settings.register_profile("project", deadline=None, suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.load_profile("project")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" in engine:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://... (as .ci/run does)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def private_media_removed():
    """Proof documents uploaded by tests live in a temporary directory, removed after the run."""
    yield
    shutil.rmtree(settings.PRIVATE_MEDIA_ROOT, ignore_errors=True)


@pytest.fixture
def is_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def customer(db: None) -> User:
    return CustomerFactory(phone="+8613811112222", password="secret-pass-1", real_name="张三")


@pytest.fixture
def other_customer(db: None) -> User:
    return CustomerFactory(phone="+8613911113333", password="secret-pass-2", real_name="李四")


@pytest.fixture
def flat_product(db: None) -> InstallmentProduct:
    return ProductFactory(
        code="baitiao",
        name="白条分期",
        fee_method="flat_fee",
        fee_rate=Decimal("0.005"),
        tenors=[3, 6, 12, 24],
    )


@pytest.fixture
def equal_installment_product(db: None) -> InstallmentProduct:
    return ProductFactory(
        code="dengebenxi",
        name="等额本息",
        fee_method="equal_installment",
        fee_rate=Decimal("0.12"),
        tenors=[6, 12, 24],
        max_principal=Decimal("200000.00"),
    )


@pytest.fixture(autouse=True)
def default_language() -> Iterator[None]:
    """Each test starts in the site's default language: a request in English (the account's language, or
    a test's override) leaves the thread's active language behind, and a later test reading a label
    (``card_display``, a status) would otherwise depend on the order the tests ran in."""
    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def gateway_pool_closed():
    """The debit engine keeps its gateway threads between chunks and the simulated bank its own database
    connections; a test that used them closes them, so the test database can be flushed or dropped."""
    yield
    close_gateway_pool()
    close_bank_connections()  # also when a test built its own SimulatedGateway rather than get_gateway()'s


@pytest.fixture
def contact_hours() -> Iterator[None]:
    """Collection calls and SMS are allowed 08:00-22:00 China time (the contact gate): a test that logs a
    call or records a promise puts "now" at 10:00 of today, China time, with the clock running, so it
    passes whenever the suite runs (a CI run at 02:00 China time would otherwise be refused)."""
    at = datetime.combine(timezone.localdate(), time(10), tzinfo=timezone.get_default_timezone())
    with time_machine.travel(at, tick=True):
        yield


@pytest.fixture
def signed_in(client, customer) -> Client:
    client.force_login(customer)
    return client


# --- cards: bound through the SMS code (``bind``) or written directly (``card``) ---------------------


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
def card(customer) -> BankCard:
    """The customer's default card, tokenised at the gateway; no SMS code (binding is not under test)."""
    return BoundCardFactory(customer=customer)


# --- plans in each state, built through the services -------------------------------------------------


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


# --- support staff -----------------------------------------------------------------------------------


@pytest.fixture
def agent(db) -> User:
    return StaffFactory(phone="+8613700000001", groups=[AGENT])


@pytest.fixture
def approver(db) -> User:
    return StaffFactory(phone="+8613700000002", groups=[APPROVER])


@pytest.fixture
def approver2(db) -> User:
    return StaffFactory(phone="+8613700000003", groups=[APPROVER])


# --- the ledger ----------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def ledger_stays_clean(request):
    """After every test that used the database the ledger's invariants hold (check_ledger passes after
    all tests): money tests live in several folders (installments, repayments, flows, reliability), and
    a test moved between them must not lose the check."""
    names = set(request.fixturenames)
    uses_db = names & {"db", "transactional_db"} or request.node.get_closest_marker("django_db")
    if not uses_db or "ledger_corrupted" in request.keywords:
        yield
        return
    # Set the database up before this fixture, so it is still there when this fixture finishes.
    request.getfixturevalue("transactional_db" if "transactional_db" in names else "db")
    yield
    assert list(ledger_breaches()) == []
