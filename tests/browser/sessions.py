"""Signing in through the real sign-in page, as a person would: one way for every browser journey."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

MOBILE = re.compile("Mobile number|手机号")
PASSWORD_LABEL = re.compile("^(Password|密码)$")
SIGN_IN = re.compile("Sign in|登录")


def sign_in(page: Page, base: str, phone: str, password: str, *, lands_on: str | None = "/account/") -> None:
    """Types the phone the way the customer would (national number); waits for the landing page unless
    ``lands_on`` is None (a test that looks at what the sign-in page itself says next)."""
    page.goto(f"{base}/login/")
    page.get_by_label(MOBILE).fill(phone)
    page.get_by_label(PASSWORD_LABEL).fill(password)
    page.get_by_role("button", name=SIGN_IN).click()
    if lands_on is not None:
        expect(page).to_have_url(f"{base}{lands_on}")
