"""Shared fixtures. SQLite by default; PostgreSQL + Redis when DATABASE_URL / REDIS_URL are set."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from accounts.models import User
from installments.models import InstallmentProduct

# Property tests fail on their property, never on the machine's load: no per-example deadline (default
# 200 ms) and no "data generation too slow" health check. CI and developers share two cores, and a GC
# pause or a busy neighbour is enough to fail an example of a test that kept hypothesis's defaults
# (test_allocation's two properties did); the other property tests already said so one by one.
hypothesis_settings.register_profile("project", deadline=None, suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.load_profile("project")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from django.conf import settings

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
    import shutil

    from django.conf import settings

    shutil.rmtree(settings.PRIVATE_MEDIA_ROOT, ignore_errors=True)


@pytest.fixture
def is_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def customer(db: None) -> User:
    return User.objects.create_user("+8613811112222", "secret-pass-1", real_name="张三")


@pytest.fixture
def other_customer(db: None) -> User:
    return User.objects.create_user("+8613911113333", "secret-pass-2", real_name="李四")


@pytest.fixture
def flat_product(db: None) -> InstallmentProduct:
    return InstallmentProduct.objects.create(
        code="baitiao",
        name="白条分期",
        fee_method="flat_fee",
        fee_rate=Decimal("0.005"),
        tenors=[3, 6, 12, 24],
    )


@pytest.fixture
def equal_installment_product(db: None) -> InstallmentProduct:
    return InstallmentProduct.objects.create(
        code="dengebenxi",
        name="等额本息",
        fee_method="equal_installment",
        fee_rate=Decimal("0.12"),
        tenors=[6, 12, 24],
        max_principal=Decimal("200000.00"),
    )


@pytest.fixture(autouse=True)
def gateway_pool_closed():
    """The debit engine keeps its gateway threads between chunks and the simulated bank its own database
    connections; a test that used them closes them, so the test database can be flushed or dropped."""
    yield
    from repayments.services.autodebit import close_gateway_pool
    from simulators.bank import close_bank_connections

    close_gateway_pool()
    close_bank_connections()  # also when a test built its own SimulatedGateway rather than get_gateway()'s
