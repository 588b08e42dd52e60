"""The kernel every app stands on: errors and their codes, money, ids, database helpers, locks, masking, the
API and web base pieces, and the log context. It imports nothing of the project (the import contract in
pyproject.toml checks it); ``config`` is the other end, the composition root that imports every app."""
