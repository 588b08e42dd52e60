"""Events other apps react to without ``accounts`` importing them (imports run notifications -> accounts).

``otp_issued`` is how a one-time code reaches the customer: ``notifications`` listens and writes the SMS
to its outbox. It is sent inside the transaction that creates the code, so the message and the code
commit or roll back together; a receiver that raises refuses the request.
"""

from __future__ import annotations

import django.dispatch

# Sent by ``accounts.services.otp_request`` with: user, purpose (str), code (the plain 6 digits, which
# exist nowhere else), otp (the saved OneTimeCode row) and ttl_minutes (int). Never log ``code``.
otp_issued = django.dispatch.Signal()
