"""Signals of the accounts app. accounts imports no other app; notifications listens here instead."""

import django.dispatch

# Sent inside the transaction that creates a one-time code, with: user, purpose, code (the plain digits,
# never stored), otp (the OneTimeCode row) and ttl_minutes. notifications/receivers.py turns it into an SMS.
otp_issued = django.dispatch.Signal()
