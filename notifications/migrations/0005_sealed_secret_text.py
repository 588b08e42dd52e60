"""One-time codes leave the outbox's readable columns (review findings 3 and 4).

Before: a secret message kept its clear text in ``text`` until sent, and the redacted form in
``redacted_text``. After: ``text`` is always what may be shown, and the full text lives only encrypted in
``sealed_text`` until the sender call. Existing rows get their redacted form in ``text``; one still
pending cannot be sealed here (its code would stay readable in this very migration's source data) and is
failed instead: codes live five minutes, the customer asks for a new one.
"""

from django.db import migrations, models
from django.db.models import F


def scrub_codes(apps, schema_editor) -> None:
    Notification = apps.get_model("notifications", "Notification")
    secret = Notification.objects.exclude(redacted_text="")
    secret.filter(status="pending").update(
        status="failed", last_error="withdrawn at upgrade: codes are no longer kept in clear; ask for a new code"
    )
    secret.update(text=F("redacted_text"))


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0004_public_id_time_ordered"),
    ]

    operations = [
        migrations.RunPython(scrub_codes, migrations.RunPython.noop, elidable=True),
        migrations.RemoveField(
            model_name="notification",
            name="redacted_text",
        ),
        migrations.AddField(
            model_name="notification",
            name="sealed_text",
            field=models.TextField(blank=True, editable=False, verbose_name="sealed text"),
        ),
    ]
