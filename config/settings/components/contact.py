"""The contact gate (installments.services.contact): when and how often collection may reach a customer.

Collection rules in China keep calls and collection SMS inside the customer's waking day and limit how
often a debtor is called; a customer may choose a narrower window (accounts.User.contact_window_*).
"""

from config.settings.env import env

# Local time (Asia/Shanghai); a contact is allowed from START up to, not including, END.
CONTACT_HOURS_START = env.str("CONTACT_HOURS_START", default="08:00")
CONTACT_HOURS_END = env.str("CONTACT_HOURS_END", default="22:00")
# Connected outbound calls (the customer was reached, or promised to pay) per customer and local day,
# counted across all staff: the next call that day is refused.
CONTACT_DAILY_CALL_LIMIT = env.int("CONTACT_DAILY_CALL_LIMIT", default=3)
# The site's address as customers reach it: the payment-link SMS links to SMS_LINK_BASE_URL/p/<ref>/.
SMS_LINK_BASE_URL = env.str("SMS_LINK_BASE_URL", default="http://127.0.0.1:8000")
