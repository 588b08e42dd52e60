"""Every reliability test ends with the ledger's invariants holding, bank versus books included."""

from tests.repayments.conftest import ledger_stays_clean  # noqa: F401 - an autouse fixture, used by name
