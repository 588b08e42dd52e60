"""Jepsen-style: concurrent payments and auto-debits on a fixed set of plans, while a reader checks in one
consistent snapshot (REPEATABLE READ) that the money adds up at every read:

    succeeded repayments = their allocations
    charged at the bank  = succeeded repayments + pending repayments the bank already charged
"""

from __future__ import annotations

import random
import threading
import time
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from accounts.models import User
from core.errors import ApplicationError
from installments.models import Installment
from installments.services import plan_create
from repayments.ledger import ledger_breaches
from repayments.models import Allocation, Repayment, RepaymentStatus
from repayments.services import autodebit_set, card_bind_verified, debit_run_inline, repayment_create
from simulators.bank import simulator_set_balance
from simulators.models import SimulatedCharge
from tests.cards import ICBC_DEBIT
from tests.schedule_dates import first_due_on, purchase_due_on

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ZERO = Decimal("0.00")


def snapshot() -> tuple[Decimal, Decimal, Decimal, Decimal]:
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        succeeded = Repayment.objects.filter(status=RepaymentStatus.SUCCEEDED)
        succeeded_total = succeeded.aggregate(s=Sum("amount"))["s"] or ZERO
        allocated = (
            Allocation.objects.filter(repayment__status=RepaymentStatus.SUCCEEDED, waived=False).aggregate(
                s=Sum("amount")
            )["s"]
            or ZERO
        )
        charges = {c.idempotency_key: c.amount for c in SimulatedCharge.objects.filter(status="succeeded")}
        pending_charged = sum(
            (
                r.amount
                for r in Repayment.objects.filter(status=RepaymentStatus.PENDING)
                if f"repayment:{r.public_id}" in charges
            ),
            ZERO,
        )
        return succeeded_total, allocated, sum(charges.values(), ZERO), pending_charged


def test_money_adds_up_at_every_read_under_concurrent_payments_and_debits(flat_product) -> None:
    today = timezone.localdate()
    customer = User.objects.create_user("+8613866665555", "Jepsen-pass-2026", real_name="周九")
    card = card_bind_verified(
        customer=customer, number=ICBC_DEBIT, holder_name="周九", reserved_phone="13866665555"
    )
    simulator_set_balance(card.gateway_token, Decimal("1000000.00"))
    purchase = purchase_due_on(today)
    plans = []
    for i in range(8):
        plan = plan_create(
            customer=customer, product=flat_product, principal="1200.00", tenor=12, purchase_date=purchase,
            merchant_order_ref=f"J{i}",
        )  # fmt: skip
        first_due_on(plan, today)
        autodebit_set(customer=customer, plan=plan, enabled=True)
        plans.append(plan)
    assert Installment.objects.filter(due_date=today).count() == 8

    stop = threading.Event()
    reads: list[tuple[Decimal, Decimal, Decimal, Decimal]] = []
    errors: list[BaseException] = []

    def guarded(body):
        def run() -> None:
            try:
                body()
            except BaseException as exc:
                errors.append(exc)
            finally:
                connection.close()

        return run

    def payer(seed: int) -> None:
        rng = random.Random(seed)
        n = 0
        while not stop.is_set():
            n += 1
            try:
                repayment_create(
                    customer=customer,
                    plan=rng.choice(plans),
                    mode="custom",
                    amount=rng.choice(["1.00", "10.00", "33.33", "106.00"]),
                    card=card,
                    channel="web",
                    idempotency_key=f"jepsen-{seed}-{n}",
                )
            except ApplicationError:
                pass

    def debiter() -> None:
        for slot in (1, 2, 3):
            if stop.is_set():
                return
            debit_run_inline(business_date=today, slot=slot)

    def reader() -> None:
        while not stop.is_set():
            reads.append(snapshot())
            time.sleep(0.01)

    threads = [threading.Thread(target=guarded(lambda s=s: payer(s))) for s in range(3)]
    threads += [threading.Thread(target=guarded(debiter)), threading.Thread(target=guarded(reader))]
    for thread in threads:
        thread.start()
    time.sleep(6)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    reads.append(snapshot())
    assert len(reads) > 20
    for succeeded, allocated, charged, pending_charged in reads:
        assert succeeded == allocated
        assert charged == succeeded + pending_charged
    final = reads[-1]
    assert final[0] > 0
    assert final[3] == 0
    assert list(ledger_breaches()) == []
