"""The bank-card gateway: the interface a real acquirer offers, and the simulated one we run by default.

Results of a charge: ``succeeded``, ``insufficient_funds``, ``declined`` (hard: closed, expired, stolen;
do not retry) and ``failed`` (soft: retry later). A timeout raises ``GatewayTimeout``: the outcome is
unknown and the caller asks ``get_charge`` with the same idempotency key later. A key already seen
returns the first result and never charges twice.

The simulator keeps card accounts and charges in its own tables (``SimulatedCardAccount``,
``SimulatedCharge``): it is a bank, not our ledger. Magic card numbers (all Luhn-valid):

=====================  ==============================================
``6222020000000007``    every charge is declined (hard: card reported stolen)
``6222020000000015``    every charge fails for insufficient funds
``6222020000000023``    every charge fails softly (bank busy; retryable)
``6222020000000031``    every charge times out after being recorded (the money moves)
``6222020000000049``    refused at binding: prepaid card not supported
=====================  ==============================================

Settings: ``GATEWAY_SIM_DEFAULT_BALANCE`` (a new card's balance), ``GATEWAY_SIM_LATENCY_MS``,
``GATEWAY_SIM_FAILURE_RATE`` (soft failures), ``GATEWAY_SIM_TIMEOUT_RATE`` (recorded, then a timeout),
``GATEWAY_SIM_SEED`` (reproducible randomness).
"""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, connection, transaction
from django.utils.module_loading import import_string

from repayments.banks import bank_for, luhn_valid


class ChargeStatus(StrEnum):
    SUCCEEDED = "succeeded"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    DECLINED = "declined"
    FAILED = "failed"


@dataclass(frozen=True)
class CardToken:
    token: str
    fingerprint: str
    last4: str
    bank_code: str
    bank_name: str
    card_type: str


@dataclass(frozen=True)
class ChargeResult:
    status: ChargeStatus
    reference: str
    amount: Decimal
    idempotency_key: str
    message: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status == ChargeStatus.SUCCEEDED

    @property
    def hard_decline(self) -> bool:
        return self.status == ChargeStatus.DECLINED

    @property
    def retryable(self) -> bool:
        return self.status == ChargeStatus.FAILED


@dataclass(frozen=True)
class RefundResult:
    reference: str
    refunded: Decimal
    refund_reference: str


class GatewayError(Exception):
    pass


class GatewayTimeout(GatewayError):
    """The outcome is unknown: the charge may have happened. Reconcile with ``get_charge``."""


class CardRejected(GatewayError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class RefundError(GatewayError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class PaymentGateway(Protocol):
    def tokenize_card(
        self, *, number: str, holder_name: str, reserved_phone: str, single_use: bool = False
    ) -> CardToken: ...

    def charge(self, *, token: str, amount: Decimal, idempotency_key: str) -> ChargeResult: ...

    def get_charge(self, *, idempotency_key: str) -> ChargeResult | None: ...

    def refund(self, *, reference: str, amount: Decimal, idempotency_key: str) -> RefundResult: ...


def card_fingerprint(number: str) -> str:
    """Identifies a card number without keeping it: keyed, so the table cannot be brute-forced offline."""
    return hmac.new(settings.SECRET_KEY.encode(), b"card:" + number.encode(), hashlib.sha256).hexdigest()


MAGIC_BEHAVIOURS = {
    "6222020000000007": "decline",
    "6222020000000015": "insufficient",
    "6222020000000023": "soft_fail",
    "6222020000000031": "timeout",
}
UNSUPPORTED_CARDS = {"6222020000000049"}

_MESSAGES = {
    ChargeStatus.SUCCEEDED: "",
    ChargeStatus.INSUFFICIENT_FUNDS: "insufficient balance",
    ChargeStatus.DECLINED: "card declined by the issuing bank",
    ChargeStatus.FAILED: "bank system busy, try again later",
}


def _money(amount: Decimal) -> Decimal:
    if not isinstance(amount, Decimal) or amount <= 0 or amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValueError("a charge amount is a positive Decimal with at most two decimals")
    return amount.quantize(Decimal("0.01"))


class SimulatedGateway:
    def __init__(
        self,
        *,
        latency_ms: int | None = None,
        failure_rate: float | None = None,
        timeout_rate: float | None = None,
        seed: int | None = None,
    ) -> None:
        self.latency_ms = settings.GATEWAY_SIM_LATENCY_MS if latency_ms is None else latency_ms
        self.failure_rate = settings.GATEWAY_SIM_FAILURE_RATE if failure_rate is None else failure_rate
        self.timeout_rate = settings.GATEWAY_SIM_TIMEOUT_RATE if timeout_rate is None else timeout_rate
        self._random = random.Random(settings.GATEWAY_SIM_SEED if seed is None else seed)  # noqa: S311
        self._lock = threading.Lock()

    def _draw(self) -> float:
        with self._lock:
            return self._random.random()

    def _sleep(self) -> None:
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)

    def tokenize_card(
        self, *, number: str, holder_name: str, reserved_phone: str, single_use: bool = False
    ) -> CardToken:
        from repayments.models import SimulatedCardAccount

        self._sleep()
        if not luhn_valid(number):
            raise CardRejected("invalid_number", "The card number is not valid.")
        if number in UNSUPPORTED_CARDS:
            raise CardRejected("card_not_supported", "This card type (prepaid) is not supported.")
        bank = bank_for(number)
        account = SimulatedCardAccount.objects.create(
            token=f"tok_{secrets.token_hex(12)}",
            fingerprint=card_fingerprint(number),
            last4=number[-4:],
            bank_code=bank.code,
            card_type=bank.card_type,
            behaviour=MAGIC_BEHAVIOURS.get(number, "normal"),
            balance=Decimal(str(settings.GATEWAY_SIM_DEFAULT_BALANCE)),
            single_use=single_use,
        )
        return CardToken(
            token=account.token,
            fingerprint=account.fingerprint,
            last4=account.last4,
            bank_code=bank.code,
            bank_name=bank.name,
            card_type=bank.card_type,
        )

    @staticmethod
    def _result(charge) -> ChargeResult:
        status = ChargeStatus(charge.status)
        return ChargeResult(
            status=status,
            reference=charge.reference,
            amount=charge.amount,
            idempotency_key=charge.idempotency_key,
            message=_MESSAGES[status],
        )

    def charge(self, *, token: str, amount: Decimal, idempotency_key: str) -> ChargeResult:
        from repayments.models import SimulatedCardAccount, SimulatedCharge

        amount = _money(amount)
        self._sleep()
        draw = self._draw()
        if connection.vendor == "postgresql":
            return self._charge_in_one_statement(token, amount, idempotency_key, draw)
        timed_out = False
        try:
            with transaction.atomic():
                seen = SimulatedCharge.objects.filter(idempotency_key=idempotency_key).first()
                if seen is not None:
                    if seen.token != token or seen.amount != amount:
                        raise GatewayError("idempotency key reused with different parameters")
                    return self._result(seen)
                account = SimulatedCardAccount.objects.select_for_update().filter(token=token).first()
                if account is None or account.closed or account.behaviour == "decline":
                    status = ChargeStatus.DECLINED
                elif account.behaviour == "insufficient":
                    status = ChargeStatus.INSUFFICIENT_FUNDS
                elif account.behaviour == "soft_fail" or draw < self.failure_rate:
                    status = ChargeStatus.FAILED
                elif account.balance < amount:
                    status = ChargeStatus.INSUFFICIENT_FUNDS
                else:
                    status = ChargeStatus.SUCCEEDED
                    account.balance -= amount
                    if account.single_use:
                        account.closed = True
                    account.save(update_fields=["balance", "closed"])
                timed_out = bool(account and account.behaviour == "timeout") or (
                    self.failure_rate <= draw < self.failure_rate + self.timeout_rate
                )
                with transaction.atomic():
                    charge = SimulatedCharge.objects.create(
                        idempotency_key=idempotency_key,
                        reference=f"ch_{secrets.token_hex(12)}",
                        token=token,
                        amount=amount,
                        status=status,
                    )
        except IntegrityError:
            # The same key charged at the same moment by another caller: the first one stands.
            seen = SimulatedCharge.objects.get(idempotency_key=idempotency_key)
            return self._result(seen)
        if timed_out:
            raise GatewayTimeout("the bank did not answer in time")
        return self._result(charge)

    # The bank's side of a charge in one round trip: lock the account, decide, record (first key wins),
    # move the money. The ORM version below does the same in five; this one keeps the simulator from
    # being the slowest part of a debit run.
    _CHARGE_SQL = """
        WITH acct AS (
            SELECT balance, closed, behaviour FROM repayments_simulatedcardaccount
            WHERE token = %(token)s FOR UPDATE
        ), decided AS (
            SELECT CASE
                WHEN NOT EXISTS (SELECT 1 FROM acct) THEN 'declined'
                WHEN (SELECT closed FROM acct) OR (SELECT behaviour FROM acct) = 'decline' THEN 'declined'
                WHEN (SELECT behaviour FROM acct) = 'insufficient' THEN 'insufficient_funds'
                WHEN (SELECT behaviour FROM acct) = 'soft_fail' OR %(soft)s THEN 'failed'
                WHEN (SELECT balance FROM acct) < %(amount)s THEN 'insufficient_funds'
                ELSE 'succeeded' END AS status
        ), ins AS (
            INSERT INTO repayments_simulatedcharge
                (idempotency_key, reference, token, amount, status, refunded, created_at)
            SELECT %(key)s, %(reference)s, %(token)s, %(amount)s, status, 0, now() FROM decided
            ON CONFLICT (idempotency_key) DO NOTHING
            RETURNING status
        ), upd AS (
            UPDATE repayments_simulatedcardaccount AS a
            SET balance = a.balance - %(amount)s, closed = a.closed OR a.single_use
            FROM ins WHERE a.token = %(token)s AND ins.status = 'succeeded'
            RETURNING a.id
        )
        SELECT (SELECT status FROM ins), (SELECT behaviour FROM acct), (SELECT count(*) FROM upd)
    """

    def _charge_in_one_statement(self, token: str, amount: Decimal, key: str, draw: float) -> ChargeResult:
        from repayments.models import SimulatedCharge

        reference = f"ch_{secrets.token_hex(12)}"
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                self._CHARGE_SQL,
                {"token": token, "amount": amount, "key": key, "reference": reference,
                 "soft": draw < self.failure_rate},
            )  # fmt: skip
            status, behaviour, _moved = cursor.fetchone()
        if status is None:  # the key was seen before: the first result stands
            seen = SimulatedCharge.objects.get(idempotency_key=key)
            if seen.token != token or seen.amount != amount:
                raise GatewayError("idempotency key reused with different parameters")
            return self._result(seen)
        if behaviour == "timeout" or self.failure_rate <= draw < self.failure_rate + self.timeout_rate:
            raise GatewayTimeout("the bank did not answer in time")
        status = ChargeStatus(status)
        return ChargeResult(
            status=status, reference=reference, amount=amount, idempotency_key=key, message=_MESSAGES[status]
        )

    def get_charge(self, *, idempotency_key: str) -> ChargeResult | None:
        from repayments.models import SimulatedCharge

        charge = (
            SimulatedCharge.objects.filter(idempotency_key=idempotency_key).exclude(status="refund").first()
        )
        return self._result(charge) if charge else None

    def refund(self, *, reference: str, amount: Decimal, idempotency_key: str) -> RefundResult:
        from repayments.models import SimulatedCardAccount, SimulatedCharge

        amount = _money(amount)
        self._sleep()
        with transaction.atomic():
            seen = SimulatedCharge.objects.filter(idempotency_key=idempotency_key, status="refund").first()
            if seen is not None:
                return RefundResult(
                    reference=seen.token, refunded=seen.amount, refund_reference=seen.reference
                )
            charge = SimulatedCharge.objects.select_for_update().filter(reference=reference).first()
            if charge is None or charge.status != ChargeStatus.SUCCEEDED:
                raise RefundError("unknown_charge", "No succeeded charge with that reference.")
            if charge.refunded + amount > charge.amount:
                raise RefundError("exceeds_charge", "The refund is more than what is left of the charge.")
            charge.refunded += amount
            charge.save(update_fields=["refunded"])
            account = SimulatedCardAccount.objects.select_for_update().get(token=charge.token)
            account.balance += amount
            account.save(update_fields=["balance"])
            refund = SimulatedCharge.objects.create(
                idempotency_key=idempotency_key,
                reference=f"rf_{secrets.token_hex(12)}",
                token=charge.reference,
                amount=amount,
                status="refund",
            )
        return RefundResult(reference=reference, refunded=amount, refund_reference=refund.reference)


# --- the simulator's back office, for demo data and tests ----------------------------------------------


def simulator_set_balance(token_or_fingerprint: str, amount: Decimal) -> int:
    """Fund a card (by token, or every account of a fingerprint). Returns the accounts changed."""
    from django.db.models import Q

    from repayments.models import SimulatedCardAccount

    return SimulatedCardAccount.objects.filter(
        Q(token=token_or_fingerprint) | Q(fingerprint=token_or_fingerprint)
    ).update(balance=amount)


def simulator_balance(token: str) -> Decimal:
    from repayments.models import SimulatedCardAccount

    return SimulatedCardAccount.objects.get(token=token).balance


def simulator_close_card(token: str) -> None:
    from repayments.models import SimulatedCardAccount

    SimulatedCardAccount.objects.filter(token=token).update(closed=True)


GATEWAYS: dict[str, type] = {"simulated": SimulatedGateway}


def get_gateway() -> PaymentGateway:
    name = settings.PAYMENT_GATEWAY
    if name in GATEWAYS:
        return GATEWAYS[name]()
    try:
        return import_string(name)()
    except ImportError as exc:
        raise ImproperlyConfigured(f"PAYMENT_GATEWAY={name!r} cannot be imported: {exc}") from exc
