"""Binding and removing bank cards."""

from __future__ import annotations

import logging

import pytest
from django.apps import apps
from django.db import models

from accounts.models import OtpPurpose
from core.errors import ApplicationError
from notifications.models import Notification
from repayments.models import AutoDebitMandate, BankCard, CardStatus
from repayments.services import card_bind, card_set_default, card_unbind
from tests.cards import CMB_DEBIT, ICBC_CREDIT, ICBC_DEBIT, luhn_complete


def test_bind_stores_token_bank_and_last_four_only(customer, bind) -> None:
    card = bind(customer, number=f"{ICBC_DEBIT[:4]} {ICBC_DEBIT[4:8]} {ICBC_DEBIT[8:12]} {ICBC_DEBIT[12:]}")
    assert card.bank_name == "工商银行"
    assert card.card_type == "debit"
    assert card.last4 == ICBC_DEBIT[-4:]
    assert card.is_default
    assert card.status == CardStatus.ACTIVE
    assert card.gateway_token
    assert ICBC_DEBIT not in card.gateway_token
    assert card.reserved_phone_masked == "138****2222"
    sms = Notification.objects.get(template_code="card_bound")
    assert f"尾号{card.last4}" in sms.text
    assert ICBC_DEBIT not in sms.text


def test_second_card_is_not_default_until_chosen(customer, bind) -> None:
    first = bind(customer)
    second = bind(customer, number=CMB_DEBIT)
    assert not second.is_default
    assert second.bank_name == "招商银行"
    card_set_default(customer=customer, card=second)
    first.refresh_from_db()
    second.refresh_from_db()
    assert second.is_default
    assert not first.is_default


def test_unknown_bin_is_other_bank(customer, bind) -> None:
    card = bind(customer, number=luhn_complete("999999000000111"))
    assert card.bank_name == "其他银行"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"number": ICBC_DEBIT[:-1] + str((int(ICBC_DEBIT[-1]) + 1) % 10)}, "card_invalid_number"),
        ({"number": "1234"}, "card_invalid_number"),
        ({"holder_name": "李四"}, "card_holder_mismatch"),
        ({"reserved_phone": "12345"}, "card_phone_invalid"),
        ({"number": ICBC_CREDIT}, "credit_card_not_supported"),
    ],
)
def test_bind_refusals_store_nothing_and_keep_the_code(customer, codes, kwargs, code) -> None:
    args = {
        "customer": customer,
        "number": ICBC_DEBIT,
        "holder_name": customer.real_name,
        "reserved_phone": "13811112222",
        "otp_code": codes.request(customer),
    }
    args.update(kwargs)
    with pytest.raises(ApplicationError) as excinfo:
        card_bind(**args)
    assert excinfo.value.code == code
    assert ICBC_DEBIT not in str(excinfo.value)
    assert ICBC_DEBIT not in str(excinfo.value.fields)
    assert not BankCard.objects.exists()
    # The SMS code was not spent on a typo: binding with the right details still works.
    args.update(number=ICBC_DEBIT, holder_name=customer.real_name, reserved_phone="13811112222")
    assert card_bind(**args).last4 == ICBC_DEBIT[-4:]


def test_a_card_the_bank_refuses_has_a_card_code(customer, codes) -> None:
    with pytest.raises(ApplicationError) as excinfo:
        card_bind(
            customer=customer,
            number="6222020000000049",  # the simulated bank's prepaid card
            holder_name=customer.real_name,
            reserved_phone="13811112222",
            otp_code=codes.request(customer),
        )
    assert excinfo.value.code == "card_not_supported"
    assert not BankCard.objects.exists()


def test_credit_card_allowed_when_a_product_allows_it(customer, bind, flat_product) -> None:
    flat_product.allow_credit_cards = True
    flat_product.save()
    assert bind(customer, number=ICBC_CREDIT).card_type == "credit"


def test_wrong_code_binds_nothing(customer, codes) -> None:
    right = codes.request(customer)
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    with pytest.raises(ApplicationError) as excinfo:
        card_bind(
            customer=customer,
            number=ICBC_DEBIT,
            holder_name="张三",
            reserved_phone="13811112222",
            otp_code=wrong,
        )
    assert excinfo.value.code == "otp_invalid"
    assert not BankCard.objects.exists()


def test_same_card_twice_is_refused(customer, bind) -> None:
    bind(customer)
    with pytest.raises(ApplicationError) as excinfo:
        bind(customer)
    assert excinfo.value.code == "card_already_bound"
    assert excinfo.value.status == 409


def test_unbind_moves_default_and_sends_sms(customer, bind) -> None:
    first = bind(customer)
    second = bind(customer, number=CMB_DEBIT)
    card_unbind(customer=customer, card=first)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == CardStatus.REMOVED
    assert not first.is_default
    assert first.removed_at
    assert second.is_default
    assert Notification.objects.filter(template_code="card_removed").count() == 1
    # The same card can be bound again after removal.
    assert bind(customer).status == CardStatus.ACTIVE


def test_unbind_refused_while_paying_an_autodebit_unless_another_takes_over(
    customer, bind, current_plan, codes
) -> None:
    first = bind(customer)
    second = bind(customer, number=CMB_DEBIT)
    AutoDebitMandate.objects.create(plan=current_plan, card=first, enabled=True)
    with pytest.raises(ApplicationError) as excinfo:
        card_unbind(customer=customer, card=first)
    assert excinfo.value.code == "card_in_use_by_autodebit"
    first.refresh_from_db()
    assert first.status == CardStatus.ACTIVE
    code = codes.request(customer, OtpPurpose.CHANGE_AUTODEBIT_CARD)
    card_unbind(customer=customer, card=first, replacement=second, otp_code=code)
    assert AutoDebitMandate.objects.get(plan=current_plan).card == second


def test_other_customers_card_is_not_found(customer, other_customer, bind) -> None:
    card = bind(customer)
    for action in (
        lambda: card_unbind(customer=other_customer, card=card),
        lambda: card_set_default(customer=other_customer, card=card),
    ):
        with pytest.raises(ApplicationError) as excinfo:
            action()
        assert excinfo.value.code == "card_not_found"
        assert excinfo.value.status == 404


def test_no_full_card_number_in_any_table_or_log(customer, other_customer, bind, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    numbers = [ICBC_DEBIT, CMB_DEBIT]
    bind(customer, number=numbers[0])
    bind(other_customer, number=numbers[1], reserved_phone="13911113333")
    with pytest.raises(ApplicationError):
        bind(customer, number=numbers[0])  # a refusal must not echo the number either
    found = []
    for model in apps.get_models():
        text_fields = [
            f.attname
            for f in model._meta.concrete_fields
            if isinstance(f, (models.CharField, models.TextField, models.JSONField))
        ]
        if not text_fields:
            continue
        for row in model.objects.values_list(*text_fields):
            blob = " ".join(str(v) for v in row)
            found += [(model.__name__, n) for n in numbers if n in blob]
    assert found == []
    assert all(n not in caplog.text for n in numbers)
