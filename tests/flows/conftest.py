"""Cross-app journeys use the repayments fixtures (cards, plans in each state) and end with the ledger
check, as every money test does."""

from tests.repayments.conftest import (  # noqa: F401 - fixtures, used by name
    agent,
    bind,
    card,
    codes,
    current_plan,
    late_plan,
    ledger_stays_clean,
    overdue_plan,
)
