"""The staff groups' names. Their permissions are kept in ``repayments/staff.py``; the names live here, in a
lower layer, so installments (the collection cases' round-robin among agents) can name a group too."""

AGENT = "agent"
APPROVER = "approver"
LEAD = "lead"
FINANCE = "finance"
