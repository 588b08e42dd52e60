"""Binding and removing bank cards (银行卡管理).

The card number passes through here once, on its way to the gateway: it is checked (Luhn, BIN), turned
into a token, and forgotten. Only the token, bank, type and last four digits are stored, and no error or
log line carries the number.
"""

from __future__ import annotations

import logging

import phonenumbers
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from accounts.errors import AccountsError
from accounts.models import OtpPurpose, User
from accounts.services import otp_verify
from core.error_codes import error_code
from core.errors import ApplicationError
from core.masking import mask_phone
from installments.ledger import PAYABLE_PLAN_STATUSES, lock_plans
from installments.models import InstallmentPlan, InstallmentProduct
from notifications.services import notification_create
from repayments.banks import bank_for, luhn_valid
from repayments.errors import RepaymentsError
from repayments.gateway import CardRejected, GatewayError, card_fingerprint, get_gateway
from repayments.models import AutoDebitMandate, BankCard, CardStatus, CardType, Repayment, RepaymentStatus
from repayments.services.mandates import autodebit_card_changed_notify

logger = logging.getLogger(__name__)


def normalize_card_number(number: str) -> str:
    return "".join(ch for ch in str(number) if not ch.isspace() and ch != "-")


def card_number_check(number: str) -> str:
    """The digits of a card number, or a clear refusal. Shared by binding and one-time cards."""
    digits = normalize_card_number(number)
    if not luhn_valid(digits):
        raise ApplicationError(
            RepaymentsError.CARD_INVALID_NUMBER,
            _("The card number is not valid. Please check it."),
            fields={"number": _("Not a valid card number.")},
        )
    return digits


def _credit_cards_offered() -> bool:
    return InstallmentProduct.objects.filter(is_active=True, allow_credit_cards=True).exists()


def card_bind(
    *, customer: User, number: str, holder_name: str, reserved_phone: str, otp_code: str
) -> BankCard:
    """Bind a card after the customer confirms with the SMS code sent for ``bind_card``."""
    digits = card_number_check(number)
    if holder_name.strip() != customer.real_name.strip():
        raise ApplicationError(
            RepaymentsError.CARD_HOLDER_MISMATCH,
            _("The card holder must be the account holder."),
            fields={"holder_name": _("Does not match your real name.")},
        )
    try:
        phone = phonenumbers.parse(reserved_phone, "CN")
        if not phonenumbers.is_valid_number(phone):
            raise ValueError
    except (phonenumbers.NumberParseException, ValueError):
        raise ApplicationError(
            RepaymentsError.CARD_PHONE_INVALID,
            _("Enter the phone number reserved at the bank."),
            fields={"reserved_phone": _("Not a valid phone number.")},
        ) from None
    bank = bank_for(digits)
    if bank.card_type == CardType.CREDIT and not _credit_cards_offered():
        raise ApplicationError(
            RepaymentsError.CREDIT_CARD_NOT_SUPPORTED,
            _("Only debit cards can be bound."),
            fields={"number": _("Credit cards are not accepted.")},
        )
    fingerprint = card_fingerprint(digits)
    if BankCard.objects.filter(customer=customer, fingerprint=fingerprint, status=CardStatus.ACTIVE).exists():
        raise ApplicationError(RepaymentsError.CARD_ALREADY_BOUND, _("This card is already bound."))
    # The code is checked last among the customer's inputs, so a typo elsewhere does not spend it.
    otp_verify(user=customer, purpose=OtpPurpose.BIND_CARD, code=otp_code)
    return card_bind_verified(
        customer=customer, number=digits, holder_name=holder_name, reserved_phone=reserved_phone
    )


def card_bind_verified(*, customer: User, number: str, holder_name: str, reserved_phone: str) -> BankCard:
    """Tokenize and store a card whose owner is already verified: after the SMS code, or by an operator
    loading demo data. Customer channels call ``card_bind``."""
    digits = card_number_check(number)
    fingerprint = card_fingerprint(digits)
    phone = phonenumbers.parse(reserved_phone, "CN")
    try:
        token = get_gateway().tokenize_card(
            number=digits, holder_name=holder_name.strip(), reserved_phone=reserved_phone
        )
    except CardRejected as exc:
        raise ApplicationError(error_code(f"card_{exc.code}"), str(exc)) from None
    except GatewayError:  # unreachable or no answer: no card was bound, the customer can try again
        raise bank_unavailable() from None
    try:
        with transaction.atomic():
            first = not BankCard.objects.filter(customer=customer, status=CardStatus.ACTIVE).exists()
            card = BankCard.objects.create(
                customer=customer,
                gateway_token=token.token,
                fingerprint=fingerprint,
                bank_code=token.bank_code,
                bank_name=token.bank_name,
                card_type=token.card_type,
                last4=token.last4,
                reserved_phone_masked=mask_phone(phone),
                is_default=first,
            )
            notification_create(
                user=customer,
                code="card_bound",
                context={"bank": card.bank_code, "card_last4": card.last4},
                dedupe_key=f"card_bound:{card.public_id}",
            )
    except IntegrityError:
        raise ApplicationError(RepaymentsError.CARD_ALREADY_BOUND, _("This card is already bound.")) from None
    logger.info("card bound: customer=%s bank=%s last4=%s", customer.pk, card.bank_code, card.last4)
    return card


def _own_active_card(customer: User, card: BankCard) -> BankCard:
    if card.customer_id != customer.pk or card.status != CardStatus.ACTIVE:
        raise ApplicationError(RepaymentsError.CARD_NOT_FOUND, _("No such card."))
    return card


def card_set_default(*, customer: User, card: BankCard) -> BankCard:
    _own_active_card(customer, card)
    with transaction.atomic():
        # Lock the customer's cards in id order, then switch the flag: one default at any moment.
        list(BankCard.objects.select_for_update().filter(customer=customer).order_by("id"))
        BankCard.objects.filter(customer=customer, is_default=True).exclude(pk=card.pk).update(
            is_default=False
        )
        BankCard.objects.filter(pk=card.pk).update(is_default=True)
    card.refresh_from_db()
    return card


def _moving_mandates(card: BankCard) -> QuerySet[AutoDebitMandate]:
    """The auto-debits a removal must hand to another card: enabled, on a plan that is still paid."""
    return AutoDebitMandate.objects.filter(card=card, enabled=True, plan__status__in=PAYABLE_PLAN_STATUSES)


def _refuse_while_charging(card: BankCard) -> None:
    """A charge on the card is on its way to the bank (a pending repayment, whatever the channel): the
    customer would be told the card is gone and then be charged on it (review finding 20)."""
    if Repayment.objects.filter(card=card, status=RepaymentStatus.PENDING).exists():
        raise ApplicationError(
            RepaymentsError.PAYMENT_IN_PROGRESS,
            _("A payment with this card is being processed. Try again in a few minutes."),
        )


def card_unbind(
    *, customer: User, card: BankCard, replacement: BankCard | None = None, otp_code: str = ""
) -> BankCard:
    """Remove a card; its auto-debits move to ``replacement``, and without one the removal is refused.

    Moving an auto-debit to another card needs the same SMS code (``change_autodebit_card``) as
    ``PUT /plans/<id>/auto-debit/``: removing a card is not a way around it (review finding 17). A card
    with a charge in flight is not removed (``payment_in_progress``, finding 20). Call outside an atomic
    block: a wrong code must stay counted (see ``otp_verify``).

    Locks: the customer's payable plans (id order), then the customer's cards, as every money path takes
    the plan first. A debit chunk or payment that holds one of those plans has either committed its
    pending repayment by the time we hold the lock (and we refuse) or waits and then finds the card gone.
    """
    _own_active_card(customer, card)
    if replacement is not None:
        _own_active_card(customer, replacement)
        if replacement.pk == card.pk:
            raise ApplicationError(
                RepaymentsError.CARD_REPLACEMENT_SAME, _("Choose another card to take over.")
            )
    # Cheap refusals first, so a refused removal does not spend the customer's code.
    _refuse_while_charging(card)
    moving = _moving_mandates(card).exists()
    if moving and replacement is None:
        raise _in_use(card)
    verified = False
    if moving:
        otp_verify(user=customer, purpose=OtpPurpose.CHANGE_AUTODEBIT_CARD, code=otp_code)
        verified = True
    with transaction.atomic():
        lock_plans(
            InstallmentPlan.objects.filter(customer=customer, status__in=PAYABLE_PLAN_STATUSES).values_list(
                "id", flat=True
            ),
            no_key=False,
            installments=False,
        )
        cards = {
            c.pk: c for c in BankCard.objects.select_for_update().filter(customer=customer).order_by("id")
        }
        card = cards[card.pk]
        if card.status != CardStatus.ACTIVE:
            raise ApplicationError(RepaymentsError.CARD_NOT_FOUND, _("No such card."))
        if replacement is not None and cards[replacement.pk].status != CardStatus.ACTIVE:
            raise ApplicationError(RepaymentsError.CARD_NOT_FOUND, _("No such card."))
        _refuse_while_charging(card)
        mandates = _moving_mandates(card)
        if mandates.exists():
            if replacement is None:
                raise _in_use(card)
            if not verified:  # an auto-debit moved onto this card since the check above
                raise ApplicationError(
                    AccountsError.OTP_NOT_REQUESTED, _("No verification code is waiting. Request a new code.")
                )
            moved = list(mandates.select_related("plan__customer"))
            mandates.update(card=replacement, updated_at=timezone.now())
            for mandate in moved:
                mandate.refresh_from_db(fields=["card", "updated_at"])
                autodebit_card_changed_notify(mandate)
        was_default = card.is_default
        card.status = CardStatus.REMOVED
        card.is_default = False
        card.removed_at = timezone.now()
        card.save(update_fields=["status", "is_default", "removed_at"])
        if was_default:
            successor = replacement or next(
                (
                    c
                    for c in sorted(cards.values(), key=lambda c: -c.pk)
                    if c.status == CardStatus.ACTIVE and c.pk != card.pk
                ),
                None,
            )
            if successor is not None:
                BankCard.objects.filter(pk=successor.pk).update(is_default=True)
        notification_create(
            user=customer,
            code="card_removed",
            context={"bank": card.bank_code, "card_last4": card.last4},
            dedupe_key=f"card_removed:{card.public_id}",
        )
    return card


def _in_use(card: BankCard) -> ApplicationError:
    """The refusal names the plans whose auto-debit the card pays (review: "card in use" did not say
    which), as the plan list names them."""
    plans = [m.plan.display_name for m in _moving_mandates(card).select_related("plan").order_by("plan_id")]
    return ApplicationError(
        RepaymentsError.CARD_IN_USE_BY_AUTODEBIT,
        _("This card pays the auto-debit of %(plans)s. Choose another card to take over first.")
        % {"plans": ("、" if (get_language() or "").startswith("zh") else ", ").join(plans)},
    )


def bank_unavailable() -> ApplicationError:
    """Tokenizing a card found no bank to answer: nothing was bound or charged, so trying again is safe."""
    return ApplicationError(
        RepaymentsError.BANK_UNAVAILABLE,
        _("The bank cannot be reached right now. Nothing was charged; please try again in a few minutes."),
    )
