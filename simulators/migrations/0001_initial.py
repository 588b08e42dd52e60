"""The simulators' models, taken over from repayments and notifications with their tables and rows.

State only: ``repayments_simulatedcardaccount``, ``repayments_simulatedcharge`` and
``notifications_simulatedsms`` were created by those apps' 0001 migrations and keep their names
(``db_table``), so an existing database loses nothing and a fresh one gets them from there. Their content
types move too, so permissions granted on them stay granted and no stale type is left behind.
"""

from decimal import Decimal

from django.db import migrations, models

MOVED = {
    "simulatedcardaccount": "repayments",
    "simulatedcharge": "repayments",
    "simulatedsms": "notifications",
}


def _relabel(apps, *, forward: bool) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model, old_app in MOVED.items():
        source, target = (old_app, "simulators") if forward else ("simulators", old_app)
        if not ContentType.objects.filter(app_label=target, model=model).exists():
            ContentType.objects.filter(app_label=source, model=model).update(app_label=target)


def content_types_forward(apps, schema_editor) -> None:
    _relabel(apps, forward=True)


def content_types_backward(apps, schema_editor) -> None:
    _relabel(apps, forward=False)


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("notifications", "0006_simulators_leave_notifications"),
        ("repayments", "0008_simulators_leave_repayments"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="SimulatedCardAccount",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("token", models.CharField(max_length=64, unique=True)),
                        ("fingerprint", models.CharField(db_index=True, max_length=64)),
                        ("last4", models.CharField(max_length=4)),
                        ("bank_code", models.CharField(max_length=16)),
                        ("card_type", models.CharField(max_length=8)),
                        ("behaviour", models.CharField(default="normal", max_length=24)),
                        (
                            "balance",
                            models.DecimalField(
                                decimal_places=2, default=Decimal("0.00"), max_digits=14, verbose_name="balance"
                            ),
                        ),
                        ("single_use", models.BooleanField(default=False)),
                        ("closed", models.BooleanField(default=False)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        "db_table": "repayments_simulatedcardaccount",
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(("balance__gte", 0)), name="simcard_balance_gte_0"
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="SimulatedCharge",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("idempotency_key", models.CharField(max_length=100)),
                        ("reference", models.CharField(max_length=64)),
                        ("token", models.CharField(max_length=64)),
                        (
                            "amount",
                            models.DecimalField(decimal_places=2, default=None, max_digits=14, verbose_name="amount"),
                        ),
                        ("status", models.CharField(max_length=24)),
                        (
                            "refunded",
                            models.DecimalField(
                                decimal_places=2, default=Decimal("0.00"), max_digits=14, verbose_name="refunded"
                            ),
                        ),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        "db_table": "repayments_simulatedcharge",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("idempotency_key",), name="simcharge_unique_idempotency_key"
                            ),
                            models.UniqueConstraint(fields=("reference",), name="simcharge_unique_reference"),
                            models.CheckConstraint(
                                condition=models.Q(("refunded__lte", models.F("amount"))),
                                name="simcharge_refund_lte_amount",
                            ),
                            models.CheckConstraint(
                                condition=models.Q(("refunded__gte", 0)), name="simcharge_refunded_gte_0"
                            ),
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="SimulatedSms",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("provider_message_id", models.CharField(max_length=100, unique=True)),
                        ("phone", models.CharField(max_length=32)),
                        ("text", models.TextField()),
                        ("client_reference", models.CharField(blank=True, max_length=100)),
                        ("accepted_at", models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        "verbose_name": "simulated SMS",
                        "verbose_name_plural": "simulated SMS",
                        "db_table": "notifications_simulatedsms",
                        "ordering": ("-accepted_at", "-id"),
                        "constraints": [
                            models.UniqueConstraint(
                                condition=models.Q(("client_reference", ""), _negated=True),
                                fields=("client_reference",),
                                name="simulated_sms_unique_client_reference",
                            )
                        ],
                    },
                ),
            ],
        ),
        migrations.RunPython(content_types_forward, content_types_backward, elidable=True),
    ]
