"""The simulated SMS gateway's model moves to the ``simulators`` app (simulators/migrations/0001_initial.py).

State only: the table ``notifications_simulatedsms`` stays as it is, with every row, and the simulators
app's model uses it under the same name. A production database without the simulators app keeps the
(empty) table that 0001 created.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0005_sealed_secret_text"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="SimulatedSms")],
            database_operations=[],
        ),
    ]
