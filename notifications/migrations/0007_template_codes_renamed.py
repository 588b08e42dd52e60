"""Negotiation messages had re-staging template codes (reinstallment_submitted/offer/rejected) and the
"new plan is active" message was reinstallment_approved: one name per meaning now (docs/architecture.md,
"Names"). Rows already written take the new codes, and their dedupe keys the new prefix, so the inbox, the
admin filters and a resend all see one name."""

from django.db import migrations

RENAMED = {
    "reinstallment_submitted": "negotiation_submitted",
    "reinstallment_offer": "negotiation_offer",
    "reinstallment_rejected": "negotiation_rejected",
    "reinstallment_approved": "plan_restaged",
}


def rename(apps, schema_editor, mapping=RENAMED):
    Notification = apps.get_model("notifications", "Notification")
    for old, new in mapping.items():
        for row in Notification.objects.filter(template_code=old).only("pk", "dedupe_key").iterator():
            key = row.dedupe_key
            if key.startswith(f"{old}:"):
                key = new + key[len(old) :]
            Notification.objects.filter(pk=row.pk).update(template_code=new, dedupe_key=key)


def rename_back(apps, schema_editor):
    rename(apps, schema_editor, {new: old for old, new in RENAMED.items()})


class Migration(migrations.Migration):
    dependencies = [("notifications", "0006_simulators_leave_notifications")]

    operations = [migrations.RunPython(rename, rename_back)]
