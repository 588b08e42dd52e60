"""Complaints (投诉, repayments): answer deadlines as the CBIRC 2020 complaint measures set them."""

from config.settings.env import env

# Calendar days from receipt (Asia/Shanghai dates) to answer a complaint.
COMPLAINT_DEADLINE_DAYS = env.int("COMPLAINT_DEADLINE_DAYS", default=15)
# A complex complaint may be extended, with approval and a notice to the customer: first to this many days
# from receipt, then once more by the second figure.
COMPLAINT_EXTENDED_DAYS = env.int("COMPLAINT_EXTENDED_DAYS", default=30)
COMPLAINT_SECOND_EXTENSION_DAYS = env.int("COMPLAINT_SECOND_EXTENSION_DAYS", default=30)
# Attachments a customer may send with one complaint (each checked as the 协商 documents are).
COMPLAINT_DOCUMENT_MAX_FILES = env.int("COMPLAINT_DOCUMENT_MAX_FILES", default=5)
