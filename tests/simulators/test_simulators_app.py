"""The simulators are a plugin: the domain never imports them, and they keep the tables they were born in."""

from __future__ import annotations

import ast
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from config.providers import PROVIDER_ALIASES
from repayments.gateway import BankCharge, ChargeBook, PaymentGateway, close_gateway_connections, get_gateway
from repayments.ledger import ledger_breaches
from simulators.bank import SimulatedGateway
from simulators.models import SimulatedCardAccount, SimulatedCharge, SimulatedSms

ROOT = Path(__file__).resolve().parents[2]
# Every app below simulators in DESIGN.md's layers, and the kernel.
DOMAIN = ("core", "accounts", "notifications", "installments", "repayments")


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def _tokenize(gateway: SimulatedGateway) -> str:
    return gateway.tokenize_card(
        number="6222021234567894", holder_name="Zhang San", reserved_phone="+8613811112222"
    ).token


def test_the_domain_imports_nothing_from_the_simulators() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for app in DOMAIN
        for path in sorted((ROOT / app).rglob("*.py"))
        for line, module in _imports(path)
        if module == "simulators" or module.startswith("simulators.")
    ]
    assert offenders == []


def test_the_simulators_keep_their_tables() -> None:
    """The models moved by state alone: a new table name would be a rename of live tables."""
    assert SimulatedCardAccount._meta.db_table == "repayments_simulatedcardaccount"
    assert SimulatedCharge._meta.db_table == "repayments_simulatedcharge"
    assert SimulatedSms._meta.db_table == "notifications_simulatedsms"


@pytest.mark.ledger_corrupted  # writes bank charges or ledger rows with no repayment behind them on purpose
def test_the_simulated_bank_is_the_default_gateway_and_lists_its_charges_for_check_ledger(db) -> None:
    gateway = get_gateway()
    assert isinstance(gateway, SimulatedGateway)
    assert isinstance(gateway, ChargeBook)
    token = _tokenize(gateway)
    paid = gateway.charge(token=token, amount=Decimal("30.00"), idempotency_key="repayment:one")
    gateway.refund(reference=paid.reference, amount=Decimal("10.00"), idempotency_key="refund:one")
    gateway.charge(token=token, amount=Decimal("5.00"), idempotency_key="other:two")
    assert list(gateway.succeeded_charges(key_prefix="repayment:")) == [
        BankCharge(
            idempotency_key="repayment:one",
            reference=paid.reference,
            amount=Decimal("30.00"),
            refunded=Decimal("10.00"),
        )
    ]


class _BareGateway:
    """A gateway with only the required methods: no books to read, nothing to close."""

    def tokenize_card(self, **kwargs: object) -> None: ...

    def charge(self, **kwargs: object) -> None: ...

    def get_charge(self, **kwargs: object) -> None: ...

    def refund(self, **kwargs: object) -> None: ...


@pytest.mark.ledger_corrupted  # writes bank charges or ledger rows with no repayment behind them on purpose
def test_check_ledger_compares_only_a_bank_whose_books_it_can_read(settings, db) -> None:
    bank = SimulatedGateway()
    token = bank.tokenize_card(
        number="6222021234567894", holder_name="张三", reserved_phone="+8613811112222"
    ).token
    bank.charge(token=token, amount=Decimal("8.00"), idempotency_key=f"repayment:{uuid.uuid4()}")
    assert any("charged with no repayment" in breach for breach in ledger_breaches())

    settings.PAYMENT_GATEWAY = f"{__name__}._BareGateway"
    gateway: PaymentGateway = get_gateway()
    assert not isinstance(gateway, ChargeBook)
    assert list(ledger_breaches()) == []
    close_gateway_connections()  # no close(): nothing to do


@pytest.mark.parametrize("setting", ["PAYMENT_GATEWAY", "SMS_SENDER"])
def test_short_names_map_to_dotted_paths_in_one_place(settings, setting: str) -> None:
    assert settings.PROVIDER_ALIASES is PROVIDER_ALIASES
    assert all("." in path for path in PROVIDER_ALIASES[setting].values())
