"""The factories write what the services would: a card written directly has the fields binding stores."""

from __future__ import annotations

from django.forms.models import model_to_dict

from repayments.models import BankCard
from tests.cards import CMB_DEBIT
from tests.factories import BoundCardFactory, CustomerFactory, StaffFactory

PER_CARD = {"id", "public_id", "customer", "gateway_token", "bound_at"}


def test_a_written_card_stores_what_binding_stores(customer, other_customer, bind) -> None:
    bound = bind(customer, CMB_DEBIT)
    written = BoundCardFactory(customer=other_customer, number=CMB_DEBIT)
    fields = [f.name for f in BankCard._meta.fields if f.name not in PER_CARD]
    assert model_to_dict(written, fields=fields) == model_to_dict(bound, fields=fields)
    assert written.gateway_token != bound.gateway_token
    assert written.is_default
    assert not BoundCardFactory(customer=other_customer).is_default  # the first card stays the default


def test_staff_are_in_their_groups_and_customers_are_not_staff(db) -> None:
    agent = StaffFactory(groups=["agent"])
    assert agent.is_staff
    assert agent.has_perm("installments.review_negotiation")
    assert not agent.has_perm("installments.approve_negotiation")
    customer = CustomerFactory()
    assert not customer.is_staff
    assert customer.check_password("secret-pass-1")
