"""The contact gate's record of what it refused (``installments.services.contact``): one row per refused
call or collection SMS, so a supervisor (or a regulator's question) can see that the rules held."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from installments.models.negotiation import ContactParty


class GateChannel(models.TextChoices):
    """The channels the gate decides on: the ways collection reaches out (inbound calls and chats are
    the customer's own and are not gated)."""

    CALL = "call", _("call")
    SMS = "sms", _("SMS")


class ContactRefusalCode(models.TextChoices):
    OUTSIDE_HOURS = "contact_outside_hours", _("outside the customer's contact hours")
    DAILY_LIMIT = "contact_daily_limit", _("the day's connected calls are used up")
    THIRD_PARTY = "contact_third_party", _("collection may only contact the customer (debtor)")


class ContactSource(models.TextChoices):
    """Which path asked the gate."""

    CONTACT_LOG = "contact_log", _("logging a call or SMS")
    OVERDUE_REMINDER = "overdue_reminder", _("the overdue SMS of the daily run")
    PAYMENT_LINK = "payment_link", _("a payment-link SMS")
    OTHER = "", _("other")


class ContactRefusal(models.Model):
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="contact_refusals",
        verbose_name=_("customer"),
    )
    channel = models.CharField(_("channel"), max_length=8, choices=GateChannel.choices)
    party = models.CharField(_("who was to be contacted"), max_length=8, choices=ContactParty.choices)
    code = models.CharField(_("reason"), max_length=32, choices=ContactRefusalCode.choices)
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("staff"),
        help_text=_("Empty for the system (reminders)."),
    )
    source = models.CharField(_("asked by"), max_length=32, blank=True, choices=ContactSource.choices)
    at = models.DateTimeField(_("at"))

    class Meta:
        verbose_name = _("refused contact")
        verbose_name_plural = _("refused contacts")
        ordering = ("-at", "-id")
        # Kept here with the other collection contacts (the payment link is a gated collection SMS).
        permissions = [("send_payment_link", _("Can send a payment-link SMS"))]
        indexes = [models.Index(fields=["customer", "-at"], name="contact_refusal_customer_at")]

    def __str__(self) -> str:
        return f"{self.get_channel_display()}: {self.get_code_display()}"
