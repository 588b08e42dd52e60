"""factory_boy factories for the states a test may write directly, because writing them is not what the
test is about: customers, staff in their groups, products, and a bound card.

A state that *is* the behaviour under test is still built through the services: plans come from
``plan_create`` (their schedule is the product's math) and the card-binding tests bind through
``card_bind`` with the SMS code (the ``bind`` fixture). A card written here is tokenised at the
configured gateway, as ``card_bind_verified`` does, so the simulated bank can charge it; the number
itself is a factory parameter and is never stored.
"""

from __future__ import annotations

from decimal import Decimal

import factory
from django.contrib.auth.models import Group
from factory.django import DjangoModelFactory

from accounts.models import User
from core.masking import mask_phone
from installments.models import InstallmentProduct
from repayments.gateway import card_fingerprint, get_gateway
from repayments.models import BankCard, CardStatus
from tests.cards import ICBC_DEBIT


class CustomerFactory(DjangoModelFactory):
    """A customer, created by the manager (``full_clean`` runs, the password is hashed)."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    phone = factory.Sequence(lambda n: f"+86136{n:08d}")
    password = "secret-pass-1"
    real_name = "张三"

    @classmethod
    def _create(cls, model_class: type[User], *args: object, **kwargs: object) -> User:
        return model_class.objects.create_user(*args, **kwargs)


class StaffFactory(CustomerFactory):
    """A support staff member in the named groups (``repayments.staff``: ``agent``, ``approver``)."""

    phone = factory.Sequence(lambda n: f"+86135{n:08d}")
    password = "staff-pass-1"
    real_name = "客服"
    is_staff = True

    @factory.post_generation
    def groups(self, create: bool, extracted: list[str] | tuple[str, ...] | None, **kwargs: object) -> None:
        # The groups exist after migrate (post_migrate); permissions are read fresh on first use.
        if create and extracted:
            self.groups.add(*(Group.objects.get(name=name) for name in extracted))


class ProductFactory(DjangoModelFactory):
    """An installment product; the model's defaults give the policy (grace days, re-staging, APR cap)."""

    class Meta:
        model = InstallmentProduct

    code = factory.Sequence(lambda n: f"product-{n}")
    name = factory.Sequence(lambda n: f"分期产品{n}")
    fee_method = "flat_fee"
    fee_rate = Decimal("0.005")
    tenors = factory.LazyFunction(lambda: [3, 6, 12, 24])
    # The suite's penalty figures were written for penalty on principal + fee (the rule before products
    # chose; migrated products keep it). A test of the principal-only base sets it.
    penalty_base = "principal_fee"


class BoundCardFactory(DjangoModelFactory):
    """A card as binding leaves it, without the SMS code: the token, bank, type and last four digits the
    gateway returns for ``number``; the customer's first active card is the default."""

    class Meta:
        model = BankCard

    class Params:
        number = ICBC_DEBIT
        reserved_phone = "13811112222"
        token = factory.LazyAttribute(
            lambda o: get_gateway().tokenize_card(
                number=o.number, holder_name=o.customer.real_name, reserved_phone=o.reserved_phone
            )
        )

    customer = factory.SubFactory(CustomerFactory)
    gateway_token = factory.LazyAttribute(lambda o: o.token.token)
    fingerprint = factory.LazyAttribute(lambda o: card_fingerprint(o.number))
    bank_code = factory.LazyAttribute(lambda o: o.token.bank_code)
    bank_name = factory.LazyAttribute(lambda o: o.token.bank_name)
    card_type = factory.LazyAttribute(lambda o: o.token.card_type)
    last4 = factory.LazyAttribute(lambda o: o.token.last4)
    reserved_phone_masked = factory.LazyAttribute(lambda o: mask_phone(o.reserved_phone))
    is_default = factory.LazyAttribute(
        lambda o: not BankCard.objects.filter(customer=o.customer, status=CardStatus.ACTIVE).exists()
    )
