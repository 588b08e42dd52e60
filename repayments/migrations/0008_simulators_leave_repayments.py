"""The simulated bank's models move to the ``simulators`` app (simulators/migrations/0001_initial.py).

State only: the tables ``repayments_simulatedcardaccount`` and ``repayments_simulatedcharge`` stay as they
are, with every row, and the simulators app's models use them under the same names. A production database
without the simulators app keeps the two (empty) tables that 0001 created.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("repayments", "0007_reconcile_partial_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="SimulatedCardAccount"),
                migrations.DeleteModel(name="SimulatedCharge"),
            ],
            database_operations=[],
        ),
    ]
