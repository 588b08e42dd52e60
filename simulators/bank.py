"""The simulated bank: a ``PaymentGateway`` (repayments/gateway.py) that keeps its books in our database.

Chosen with ``PAYMENT_GATEWAY=simulated`` (the default outside production; the alias of
``simulators.bank.SimulatedGateway``). It is a plugin: the domain never imports it.

The simulator keeps its card accounts and charges in its own tables (``SimulatedCardAccount``,
``SimulatedCharge``): it stands in for a bank, it is not our ledger. A refund is a ``SimulatedCharge``
row too (status ``refund``, ``idempotency_key`` = the refund's key, ``reference`` ``rf_...``, ``token`` =
the refunded charge's reference), so the unique key column makes refunds idempotent as well.

Magic card numbers (ICBC debit BIN 622202, all Luhn-valid, 16 digits):

=====================  ==========================================================================
``6222020000000007``    every charge is declined (hard: card reported stolen)
``6222020000000015``    every charge fails for insufficient funds, whatever the balance
``6222020000000023``    every charge fails softly (bank busy; retryable)
``6222020000000031``    every first charge times out *after* being recorded (the money moves); a
                        repeat of the same key, or ``get_charge``, answers with the recorded result
``6222020000000049``    refused at tokenization: ``CardRejected("not_supported")`` (prepaid)
=====================  ==========================================================================

Any other Luhn-valid number is a normal account with ``GATEWAY_SIM_DEFAULT_BALANCE``. A blank holder
name or reserved phone is refused at tokenization (``holder_mismatch``), as the bank's four-element
check would.

Settings, all optional (``SimulatedGateway(...)`` keyword arguments override the last four):
``GATEWAY_SIM_DEFAULT_BALANCE``, ``GATEWAY_SIM_CONNECTIONS`` (the bank's own database connections per
process), ``GATEWAY_SIM_LATENCY_MS``, ``GATEWAY_SIM_FAILURE_RATE`` (soft failures),
``GATEWAY_SIM_TIMEOUT_RATE`` (recorded, then a timeout), ``GATEWAY_SIM_SEED`` (reproducible randomness).

Speed matters here: the simulated bank is what makes the debit benchmark (bench/autodebit.py) honest, so
on PostgreSQL a charge is one prepared statement on the bank's own small connection pool, and the ORM
path (SQLite, or inside a caller's transaction) is its twin.

The ``simulator_*`` functions at the bottom are the simulated bank's back office, for demo data and
tests only: they reach past the gateway interface and mean nothing for a real acquirer.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import random
import re
import secrets
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import psycopg2
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, connection, transaction
from django.db.backends.utils import CursorWrapper
from django.db.models import Q
from django.utils import timezone

from core.ids import new_public_id
from repayments.banks import bank_for, luhn_valid
from repayments.gateway import (
    BankCharge,
    CardRejected,
    CardToken,
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    GatewayError,
    GatewayTimeout,
    RefundError,
    RefundResult,
    card_fingerprint,
)
from simulators.bank_rules import (
    BANK_TIME_ZONE,
    MAGIC_BEHAVIOURS,
    MESSAGES,
    UNSUPPORTED_CARDS,
    decide,
    settlement_csv,
)
from simulators.models import SimulatedCardAccount, SimulatedCharge

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")
# The simulator's money columns are max_digits=14, decimal_places=2.
MAX_AMOUNT = Decimal("999999999999.99")
# SimulatedCharge.idempotency_key is max_length=100; a longer key would fail only on PostgreSQL.
MAX_KEY_LENGTH = 100

REFUND_STATUS = "refund"

# A replay's message depends on the status alone (simulators/bank_rules.py).
_MESSAGES: dict[ChargeStatus, str] = {ChargeStatus(status): text for status, text in MESSAGES.items()}

_TOKEN_FORMAT = re.compile(r"tok_[0-9a-f]{24}")


def _setting(name: str, default: object) -> object:
    value = getattr(settings, name, default)
    return default if value is None or value == "" else value


def _number_setting(name: str, default: float) -> float | str | Decimal:
    """A numeric setting as configured: a number, or its text (the environment, a test's override)."""
    value = _setting(name, default)
    if not isinstance(value, (int, float, str, Decimal)):
        raise ImproperlyConfigured(f"{name} is a number, not {value!r}")
    return value


def _seed_setting() -> int | float | str | None:
    value = _setting("GATEWAY_SIM_SEED", None)
    if value is not None and not isinstance(value, (int, float, str)):
        raise ImproperlyConfigured(f"GATEWAY_SIM_SEED is a number or a text, not {value!r}")
    return value


def _checked_amount(amount: object) -> Decimal:
    """Money crosses to the bank only as exact fen: a float or a third decimal is a caller bug, and a
    bank would refuse it rather than round it."""
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise ValueError("an amount is a finite Decimal")
    if amount <= 0 or amount > MAX_AMOUNT:
        raise ValueError(f"an amount is more than 0 and at most {MAX_AMOUNT}")
    if amount % CENT != 0:
        raise ValueError("an amount has at most two decimal places")
    return amount.quantize(CENT)


def _checked_key(idempotency_key: object) -> str:
    if not isinstance(idempotency_key, str) or not idempotency_key or len(idempotency_key) > MAX_KEY_LENGTH:
        raise ValueError(f"an idempotency key is a non-empty string of at most {MAX_KEY_LENGTH} characters")
    return idempotency_key


def _rate(name: str, value: float | str | Decimal) -> float:
    rate = float(value)
    if not 0.0 <= rate <= 1.0:
        raise ImproperlyConfigured(f"{name} is a probability between 0 and 1, not {rate!r}")
    return rate


def _stored_token(token: str) -> str:
    """What a charge row keeps as its token. Ours are kept as they are; anything else (a caller bug, at
    worst a card number passed as a token) is kept only as a keyed hash, so no row holds a card number."""
    if _TOKEN_FORMAT.fullmatch(token):
        return token
    digest = hmac.new(settings.SECRET_KEY.encode(), b"token:" + token.encode(), hashlib.sha256).hexdigest()
    return f"unknown_{digest[:40]}"


_prepared: dict[str, weakref.WeakSet] = {}
_prepared_lock = threading.Lock()


def _prepare_once(cursor: CursorWrapper | psycopg2.extensions.cursor, name: str, sql: str) -> None:
    """PREPARE ``sql`` on this database connection the first time it is used there. Planning the charge
    statement took as long as running it (about 0.5 ms each, 500 times a chunk); a prepared statement is
    planned once per connection. Connections are tracked weakly, so a reconnect prepares again."""
    raw = cursor.connection
    with _prepared_lock:
        seen = _prepared.setdefault(name, weakref.WeakSet())
        if raw in seen:
            return
    cursor.execute(sql)
    with _prepared_lock:
        seen.add(raw)


def _result(row: SimulatedCharge) -> ChargeResult:
    status = ChargeStatus(row.status)
    return ChargeResult(
        status=status,
        reference=row.reference,
        amount=row.amount,
        idempotency_key=row.idempotency_key,
        message=_MESSAGES[status],
    )


def _charge_row(idempotency_key: str) -> SimulatedCharge | None:
    return SimulatedCharge.objects.filter(idempotency_key=idempotency_key).first()


T = TypeVar("T")
_SEEN_COLUMNS = ("idempotency_key", "reference", "token", "amount", "status")
# The prepared charge's arguments: token, stored token, amount, key, reference, soft failure.
_ChargeParams = tuple[str, str, Decimal, str, str, bool, datetime]


class _BankConnections:
    """The simulated bank's own few database connections, shared by every caller thread of a process.

    A real bank is another system: callers wait on the network holding nothing of ours. This bank keeps
    its books in our database, and if each caller thread ran its charge on its own Django connection,
    128 calls in flight per worker would need 128 connections (PostgreSQL allows 100 here). Callers
    instead wait out the latency with no connection, then borrow one of ``GATEWAY_SIM_CONNECTIONS`` raw
    connections for the one statement a charge takes."""

    def __init__(self, size: int) -> None:
        self.pid = os.getpid()
        self._slots = threading.BoundedSemaphore(size)
        self._idle: list[psycopg2.extensions.connection] = []
        self._lock = threading.Lock()

    def run(self, work: Callable[[Any], T]) -> T:
        with self._slots:
            for attempt in (1, 2):
                raw = self._take()
                try:
                    with raw.cursor() as cursor:
                        result = work(cursor)
                except (psycopg2.OperationalError, psycopg2.InterfaceError):
                    # The connection broke (a restart, a failover): once more on a new one. A charge is
                    # keyed, so if the first statement did commit, the second replays it.
                    raw.close()
                    if attempt == 2:
                        raise
                    continue
                with self._lock:
                    self._idle.append(raw)
                return result
        raise AssertionError("unreachable")

    def _take(self) -> psycopg2.extensions.connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        raw = psycopg2.connect(**connection.get_connection_params())
        raw.autocommit = True
        return raw

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for raw in idle:
            raw.close()


_bank_lock = threading.Lock()
_bank: _BankConnections | None = None


def _bank_connections() -> _BankConnections:
    """One set per process (a forked child opens its own), shared by every simulator instance."""
    global _bank
    with _bank_lock:
        if _bank is None or _bank.pid != os.getpid():
            _bank = _BankConnections(int(_number_setting("GATEWAY_SIM_CONNECTIONS", 4)))
        return _bank


def close_bank_connections() -> None:
    """Close the simulated bank's own connections (tests, before the test database is dropped); they
    reopen on the next charge."""
    global _bank
    with _bank_lock:
        bank, _bank = _bank, None
    if bank is not None and bank.pid == os.getpid():
        bank.close()


class SimulatedGateway:
    """A bank in our own database: real row locks and a unique key make its idempotency and balances
    behave under concurrency as an acquirer's would, so our retry and reconcile paths get exercised."""

    def __init__(
        self,
        *,
        latency_ms: float | None = None,
        failure_rate: float | None = None,
        timeout_rate: float | None = None,
        seed: int | None = None,
    ) -> None:
        latency = _number_setting("GATEWAY_SIM_LATENCY_MS", 0) if latency_ms is None else latency_ms
        self.latency_ms = float(latency)
        if self.latency_ms < 0:
            raise ImproperlyConfigured("GATEWAY_SIM_LATENCY_MS cannot be negative")
        self.failure_rate = _rate(
            "GATEWAY_SIM_FAILURE_RATE",
            _number_setting("GATEWAY_SIM_FAILURE_RATE", 0.0) if failure_rate is None else failure_rate,
        )
        self.timeout_rate = _rate(
            "GATEWAY_SIM_TIMEOUT_RATE",
            _number_setting("GATEWAY_SIM_TIMEOUT_RATE", 0.0) if timeout_rate is None else timeout_rate,
        )
        self.seed = _seed_setting() if seed is None else seed
        # Not for security: a seed makes a test run's failures and timeouts the same every time.
        self._random = random.Random(self.seed)  # noqa: S311
        # get_gateway() shares one instance across the auto-debit thread pool.
        self._random_lock = threading.Lock()

    def close(self) -> None:
        """The gateway contract's optional ``close``: the bank's own connections are the process's, shared
        by every instance, so this closes them all."""
        close_bank_connections()

    # -- helpers ------------------------------------------------------------------------------------

    def _draws(self) -> tuple[float, float]:
        """Two independent draws per charge (soft failure, timeout), so each rate means what it says
        whatever the other is set to."""
        with self._random_lock:
            return self._random.random(), self._random.random()

    def _wait(self) -> None:
        # Called before any transaction of ours opens: a slow bank must not hold row locks.
        if self.latency_ms > 0:
            time.sleep(self.latency_ms / 1000)

    @staticmethod
    def _default_balance() -> Decimal:
        balance = Decimal(str(_setting("GATEWAY_SIM_DEFAULT_BALANCE", "10000.00")))
        if not balance.is_finite() or balance < 0:
            raise ImproperlyConfigured("GATEWAY_SIM_DEFAULT_BALANCE is an amount of at least 0")
        return balance.quantize(CENT)

    # -- the gateway interface ----------------------------------------------------------------------

    def tokenize_card(
        self, *, number: str, holder_name: str, reserved_phone: str, single_use: bool = False
    ) -> CardToken:
        number = "".join(str(number).split())
        self._wait()
        if not luhn_valid(number):
            raise CardRejected("invalid_number", "The card number is not valid.")
        if number in UNSUPPORTED_CARDS:
            raise CardRejected("not_supported", "This card type (prepaid) is not supported.")
        if not holder_name.strip() or not reserved_phone.strip():
            raise CardRejected(
                "holder_mismatch", "The bank could not verify the card holder's name and reserved phone."
            )
        bank = bank_for(number)
        account = SimulatedCardAccount.objects.create(
            token=f"tok_{secrets.token_hex(12)}",
            fingerprint=card_fingerprint(number),
            last4=number[-4:],
            bank_code=bank.code,
            card_type=bank.card_type,
            behaviour=MAGIC_BEHAVIOURS.get(number, "normal"),
            balance=self._default_balance(),
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

    def charge(self, *, token: str, amount: Decimal, idempotency_key: str) -> ChargeResult:
        self._wait()
        return self._charge_answered(token, amount, idempotency_key)

    def charge_batch(self, items: Sequence[ChargeRequest]) -> list[ChargeResult | GatewayError]:
        """``BatchCharging``: the items charged one by one, as ``charge`` does, behind one latency (one
        request). An item's timeout or refusal is its own answer; the others go on."""
        self._wait()
        results: list[ChargeResult | GatewayError] = []
        for item in items:
            try:
                results.append(self._charge_answered(item.token, item.amount, item.idempotency_key))
            except GatewayError as exc:  # GatewayTimeout included: that item's outcome is unknown
                results.append(exc)
        return results

    def _charge_answered(self, token: str, amount: Decimal, idempotency_key: str) -> ChargeResult:
        """One charge with its faults drawn, after the latency."""
        amount = _checked_amount(amount)
        key = _checked_key(idempotency_key)
        soft_draw, timeout_draw = self._draws()
        result, first_time, timeout_card = self._charge(
            str(token), amount, key, soft_draw < self.failure_rate
        )
        # Only the first answer is lost: a repeat of the key is how callers recover, so it must answer.
        if first_time and (timeout_card or timeout_draw < self.timeout_rate):
            logger.info("simulated gateway: charge %s recorded, answering with a timeout", result.reference)
            raise GatewayTimeout("The bank did not answer in time.")
        return result

    def _charge(
        self, token: str, amount: Decimal, key: str, soft_failure: bool
    ) -> tuple[ChargeResult, bool, bool]:
        """One short transaction. Returns the result, whether this call recorded it (False: a replay of
        the key, nothing charged again) and whether the card is the always-timing-out one."""
        stored_token = _stored_token(token)
        if connection.vendor == "postgresql":
            return self._charge_in_one_statement(token, stored_token, amount, key, soft_failure)
        with transaction.atomic():
            seen = _charge_row(key)
            if seen is not None:
                return self._replay(seen, stored_token, amount), False, False
            account = SimulatedCardAccount.objects.select_for_update().filter(token=token).first()
            if account is not None:
                # The lock queues a concurrent call with the same key behind the first; once we hold it,
                # the first has committed and its row is visible (READ COMMITTED), so look again.
                seen = _charge_row(key)
                if seen is not None:
                    return self._replay(seen, stored_token, amount), False, False
            status = self._decide(account, amount, soft_failure)
            try:
                # A savepoint: losing the race on the unique key (an unknown token, or the same key for
                # another card, shares no lock with the winner) must leave this transaction usable.
                with transaction.atomic():
                    row = SimulatedCharge.objects.create(
                        idempotency_key=key,
                        reference=f"ch_{new_public_id().hex}",
                        token=stored_token,
                        amount=amount,
                        status=status,
                    )
            except IntegrityError:
                seen = _charge_row(key)
                if seen is None:  # not the key (a reference collision): nothing to replay
                    raise
                return self._replay(seen, stored_token, amount), False, False
            if account is not None and status == ChargeStatus.SUCCEEDED:
                account.balance -= amount
                account.closed = account.closed or account.single_use
                account.save(update_fields=["balance", "closed"])
        return _result(row), True, account is not None and account.behaviour == "timeout"

    # The same decision as ``_decide`` and the same bookkeeping as the ORM path above, in one round trip:
    # lock the account, decide, record the charge (the first key wins), move the money. The ORM path
    # takes five; this one keeps the simulated bank from being the slowest part of a debit run
    # (docs/performance.md: 391 -> 716 debits/s).
    _CHARGE_SQL = """
        PREPARE simulated_charge (text, text, numeric, text, text, boolean, timestamptz) AS
        WITH acct AS (
            SELECT balance, closed, behaviour FROM repayments_simulatedcardaccount
            WHERE token = $1 FOR UPDATE
        ), decided AS (
            SELECT CASE
                WHEN NOT EXISTS (SELECT 1 FROM acct) THEN 'declined'
                WHEN (SELECT closed FROM acct) OR (SELECT behaviour FROM acct) = 'decline' THEN 'declined'
                WHEN (SELECT behaviour FROM acct) = 'insufficient' THEN 'insufficient_funds'
                WHEN (SELECT behaviour FROM acct) = 'soft_fail' OR $6 THEN 'failed'
                WHEN (SELECT balance FROM acct) < $3 THEN 'insufficient_funds'
                ELSE 'succeeded' END AS status
        ), ins AS (
            INSERT INTO repayments_simulatedcharge
                (idempotency_key, reference, token, amount, status, refunded, created_at)
            SELECT $4, $5, $2, $3, status, 0, $7 FROM decided
            ON CONFLICT (idempotency_key) DO NOTHING
            RETURNING id, status
        ), upd AS (
            UPDATE repayments_simulatedcardaccount AS a
            SET balance = a.balance - $3, closed = a.closed OR a.single_use
            FROM ins WHERE a.token = $1 AND ins.status = 'succeeded'
            RETURNING a.id
        )
        SELECT (SELECT status FROM ins), (SELECT behaviour FROM acct), (SELECT count(*) FROM upd)
    """

    def _charge_in_one_statement(
        self, token: str, stored_token: str, amount: Decimal, key: str, soft_failure: bool
    ) -> tuple[ChargeResult, bool, bool]:
        reference = f"ch_{new_public_id().hex}"
        # The time is the application's clock (as the ORM path's), so a test that moves the clock moves the
        # bank's settlement day with it.
        params: _ChargeParams = (token, stored_token, amount, key, reference, soft_failure, timezone.now())
        if connection.in_atomic_block:
            # Inside the caller's transaction (tests): its rows are only visible on its connection.
            with transaction.atomic(), connection.cursor() as cursor:
                _prepare_once(cursor, "simulated_charge", self._CHARGE_SQL)
                cursor.execute(self._EXECUTE_CHARGE, params)
                status, behaviour, _moved = cursor.fetchone()
            seen = _charge_row(key) if status is None else None
        else:
            status, behaviour, seen = _bank_connections().run(
                lambda cursor: self._charge_on(cursor, params, key)
            )
        if status is None:  # the key was seen before: the first result stands
            if seen is None:  # the conflicting row is gone: what that charge did is unknown
                raise GatewayTimeout("The bank has no record of the earlier charge with this key.")
            return self._replay(seen, stored_token, amount), False, False
        charged = ChargeStatus(status)
        result = ChargeResult(
            status=charged,
            reference=reference,
            amount=amount,
            idempotency_key=key,
            message=_MESSAGES[charged],
        )
        return result, True, behaviour == "timeout"

    _EXECUTE_CHARGE = "EXECUTE simulated_charge (%s, %s, %s, %s, %s, %s, %s)"

    def _charge_on(
        self, cursor: psycopg2.extensions.cursor, params: _ChargeParams, key: str
    ) -> tuple[str | None, str | None, SimulatedCharge | None]:
        """The charge on one of the bank's own connections (autocommit: the statement is the transaction)."""
        _prepare_once(cursor, "simulated_charge", self._CHARGE_SQL)
        cursor.execute(self._EXECUTE_CHARGE, params)
        status, behaviour, _moved = cursor.fetchone()
        if status is not None:
            return status, behaviour, None
        cursor.execute(
            "SELECT idempotency_key, reference, token, amount, status FROM repayments_simulatedcharge "
            "WHERE idempotency_key = %s",
            [key],
        )
        row = cursor.fetchone()
        seen = None if row is None else SimulatedCharge(**dict(zip(_SEEN_COLUMNS, row, strict=True)))
        return None, behaviour, seen

    @staticmethod
    def _replay(seen: SimulatedCharge, stored_token: str, amount: Decimal) -> ChargeResult:
        if seen.status == REFUND_STATUS or seen.token != stored_token or seen.amount != amount:
            logger.warning("simulated gateway: idempotency key reused with different parameters")
            raise GatewayError(
                "idempotency key reused with different parameters", code="idempotency_key_reused"
            )
        return _result(seen)

    @staticmethod
    def _decide(account: SimulatedCardAccount | None, amount: Decimal, soft_failure: bool) -> ChargeStatus:
        if account is None:
            return ChargeStatus.DECLINED
        return ChargeStatus(
            decide(
                found=True,
                closed=account.closed,
                behaviour=account.behaviour,
                balance=account.balance,
                amount=amount,
                soft_failure=soft_failure,
            )
        )

    def get_charge(self, *, idempotency_key: str) -> ChargeResult | None:
        self._wait()
        row = (
            SimulatedCharge.objects.filter(idempotency_key=idempotency_key)
            .exclude(status=REFUND_STATUS)
            .first()
        )
        return _result(row) if row is not None else None

    def refund(self, *, reference: str, amount: Decimal, idempotency_key: str) -> RefundResult:
        amount = _checked_amount(amount)
        key = _checked_key(idempotency_key)
        self._wait()
        with transaction.atomic():
            seen = _charge_row(key)
            if seen is not None:
                return self._refund_replay(seen, reference, amount)
            # Locking the charge queues refunds of the same charge, so "refunded <= amount" holds.
            charge = (
                SimulatedCharge.objects.select_for_update()
                .filter(reference=reference)
                .exclude(status=REFUND_STATUS)
                .first()
            )
            if charge is None:
                raise RefundError("unknown_charge", "No charge has that reference.")
            seen = _charge_row(key)  # a concurrent refund with this key may have committed meanwhile
            if seen is not None:
                return self._refund_replay(seen, reference, amount)
            if charge.status != ChargeStatus.SUCCEEDED:
                raise RefundError("charge_not_succeeded", "Only a succeeded charge can be refunded.")
            if charge.refunded + amount > charge.amount:
                raise RefundError("exceeds_charge", "The refund is more than what is left of the charge.")
            try:
                with transaction.atomic():  # savepoint: the same key may be racing on another charge
                    row = SimulatedCharge.objects.create(
                        idempotency_key=key,
                        reference=f"rf_{new_public_id().hex}",
                        token=charge.reference,
                        amount=amount,
                        status=REFUND_STATUS,
                    )
            except IntegrityError:
                seen = _charge_row(key)
                if seen is None:
                    raise
                return self._refund_replay(seen, reference, amount)
            charge.refunded += amount
            charge.save(update_fields=["refunded"])
            account = SimulatedCardAccount.objects.select_for_update().get(token=charge.token)
            account.balance += amount
            account.save(update_fields=["balance"])
        return RefundResult(reference=charge.reference, refunded=amount, refund_reference=row.reference)

    # -- the bank's books, for check_ledger (``ChargeBook``) -----------------------------------------

    def succeeded_charges(self, *, key_prefix: str) -> Iterator[BankCharge]:
        """Every succeeded charge whose idempotency key starts with ``key_prefix``, with what was refunded
        of it: the bank's side of check_ledger's comparison, read straight from its table."""
        charged = SimulatedCharge.objects.filter(
            status=ChargeStatus.SUCCEEDED, idempotency_key__startswith=key_prefix
        )
        for key, reference, amount, refunded in charged.values_list(
            "idempotency_key", "reference", "amount", "refunded"
        ).iterator():
            yield BankCharge(idempotency_key=key, reference=reference, amount=amount, refunded=refunded)

    # -- the daily settlement file (``SettlementSource``) -----------------------------------------------

    def settlement_file(self, day: date) -> str:
        """The bank's settlement file of ``day`` (its local day): every succeeded charge and refund recorded
        that day, from its table, in the same CSV and with the same fee as the bank service's."""
        zone = ZoneInfo(BANK_TIME_ZONE)
        start = datetime.combine(day, datetime.min.time(), tzinfo=zone)
        rows = (
            SimulatedCharge.objects.filter(
                status__in=[ChargeStatus.SUCCEEDED, REFUND_STATUS],
                created_at__gte=start,
                created_at__lt=start + timedelta(days=1),
            )
            .order_by("created_at", "reference")
            .values_list("reference", "idempotency_key", "amount", "status", "created_at")
        )
        return settlement_csv(
            [
                (reference, key, int(amount * 100), status, at.astimezone(zone).isoformat())
                for reference, key, amount, status, at in rows
            ]
        )

    @staticmethod
    def _refund_replay(seen: SimulatedCharge, reference: str, amount: Decimal) -> RefundResult:
        if seen.status != REFUND_STATUS or seen.token != reference or seen.amount != amount:
            raise RefundError(
                "idempotency_key_reused", "The idempotency key was used for a different request."
            )
        return RefundResult(reference=seen.token, refunded=seen.amount, refund_reference=seen.reference)


# --- the simulator's back office, for demo data and tests ------------------------------------------


def simulator_set_balance(token_or_fingerprint: str, amount: Decimal) -> int:
    """Fund a card: the one account with that token, or every account of that fingerprint (the same
    physical card tokenized several times shares one balance in a real bank). Returns the accounts
    changed, 0 when none matched (a real gateway's token, say)."""
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount < 0 or amount > MAX_AMOUNT:
        raise ValueError("a balance is a Decimal of at least 0")
    return SimulatedCardAccount.objects.filter(
        Q(token=token_or_fingerprint) | Q(fingerprint=token_or_fingerprint)
    ).update(balance=amount.quantize(CENT))


def simulator_balance(token: str) -> Decimal:
    """The account's balance. Raises ``SimulatedCardAccount.DoesNotExist`` for an unknown token."""
    return SimulatedCardAccount.objects.get(token=token).balance


def simulator_close_card(token: str) -> bool:
    """Close the account (the customer cancelled the card): every later charge is a hard decline.
    Returns whether an account was found."""
    return SimulatedCardAccount.objects.filter(token=token).update(closed=True) > 0


def simulator_charges(token: str) -> list[SimulatedCharge]:
    """Every charge recorded against the token, oldest first, whatever its outcome. Each row's
    ``refunded`` is the total given back; the refunds themselves are rows whose ``token`` is the
    charge's ``reference`` and whose status is ``refund``."""
    return list(SimulatedCharge.objects.filter(token=token).order_by("id"))
