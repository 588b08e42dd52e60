"""Periodic upkeep of accounts data."""

from __future__ import annotations

from celery import shared_task

from accounts.idempotency import idempotency_keys_purge
from accounts.services import password_reset_code_send
from accounts.tokens import expired_tokens_flush
from core.locks import single_run


@shared_task(name="accounts.purge_idempotency_keys", expires=3000)
def purge_idempotency_keys() -> int:
    """API idempotency keys older than API_IDEMPOTENCY_KEEP_HOURS go (hourly, one run at a time)."""
    with single_run("accounts.purge_idempotency_keys", ttl_seconds=3000) as mine:
        return idempotency_keys_purge() if mine else 0


@shared_task(name="accounts.password_reset_send", expires=600)
def password_reset_send(phone: str) -> bool:
    """Step 1 of the password reset, off the request so the page answers alike for every number."""
    return password_reset_code_send(phone=phone)


@shared_task(name="accounts.flush_expired_tokens", expires=3000)
def flush_expired_tokens() -> int:
    """Refresh tokens past their expiry leave the blacklist tables (they are refused by their date)."""
    with single_run("accounts.flush_expired_tokens", ttl_seconds=3000) as mine:
        return expired_tokens_flush() if mine else 0
