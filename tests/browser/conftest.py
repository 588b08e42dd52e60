"""Browser tests: Playwright drives Debian's Chromium (/usr/bin/chromium, headless) against a live server.

No browser is downloaded: ``executable_path`` points at the system Chromium. ``.ci/run`` installs the
``chromium`` package when it is missing; elsewhere these tests are skipped, with the reason, when it is.
Screenshots of the main pages at phone and desktop width go to ``var/screenshots/`` (not committed).

The live server pays through the bank as an outside service, as ``make run`` does: ``PAYMENT_GATEWAY=http``
at a bank service process (tests/bank_service.py) whose webhooks reach the live server; each test starts on
empty bank books, so the after-test ledger check compares that test's repayments with that bank.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import override_settings

from repayments.gateway import close_gateway_connections
from tests.bank_service import SECRET, BankProcess

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make to set up
# data are still plain synchronous calls, which Django would otherwise refuse in that thread.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if Path(CHROMIUM).exists() or shutil.which("chromium"):
        return
    skip = pytest.mark.skip(reason=f"needs Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)")
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "headless": True}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    return {**browser_context_args, "locale": "zh-CN", "viewport": PHONE}


@pytest.fixture
def shoot(page):
    """Save the current page at phone and desktop width under var/screenshots/<name>-<width>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def _shoot(name: str) -> None:
        for size in (PHONE, DESKTOP):
            page.set_viewport_size(size)
            page.screenshot(path=str(SCREENSHOTS / f"{name}-{size['width']}.png"), full_page=True)
        page.set_viewport_size(PHONE)

    return _shoot


@pytest.fixture(scope="module")
def http_bank(live_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BankProcess]:
    """The bank service for a module of browser tests, the live server's gateway pointed at it. Module
    scope, so the settings outlive each test's after-test ledger check; they end with the module."""
    process = BankProcess(
        tmp_path_factory.mktemp("bank") / "bank.sqlite3",
        env={
            "BANK_WEBHOOK_URL": f"{live_server.url}/webhooks/bank/",
            "BANK_WEBHOOK_BACKOFF_SECONDS": "0.1",
            "BANK_WEBHOOK_MAX_BACKOFF_SECONDS": "0.5",
        },
    ).start()
    override = override_settings(
        PAYMENT_GATEWAY="http",
        GATEWAY_HTTP_URL=process.url,
        GATEWAY_HTTP_SECRET=SECRET,
        BANK_WEBHOOK_SECRET="",
    )
    override.enable()
    yield process
    close_gateway_connections()
    override.disable()
    process.stop()


@pytest.fixture(autouse=True)
def bank_books(http_bank: BankProcess, tmp_path: Path) -> Iterator[BankProcess]:
    """Empty bank books for each test (the database is emptied after each one too)."""
    http_bank.database = tmp_path / "bank.sqlite3"
    http_bank.restart()
    yield http_bank
    close_gateway_connections()
