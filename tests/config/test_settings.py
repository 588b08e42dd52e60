"""Production mode refuses to start without a secret or on simulated providers, and passes check --deploy
with no warning."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROVIDER_SETTINGS = (
    "SMS_SENDER",
    "SMS_HTTP_",
    "PAYMENT_GATEWAY",
    "GATEWAY_HTTP_",
    "ALLOW_SIMULATED_PROVIDERS",
    "BANK_WEBHOOK_",
)
# What a production deployment configures: the real SMS provider and a bank adapter (a dotted path).
REAL_PROVIDERS = {
    "SMS_SENDER": "http",
    "SMS_HTTP_URL": "https://sms.example.com/send",
    "SMS_HTTP_SECRET": "provider-signing-secret",
    "PAYMENT_GATEWAY": "acme_bank.gateway.AcmeGateway",
}


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", *PROVIDER_SETTINGS))}
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_refuses_to_start_without_secret_key() -> None:
    result = _manage("check", DJANGO_ENV="production", DJANGO_ALLOWED_HOSTS="pay.example.com")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_production_refuses_the_development_key() -> None:
    result = _manage(
        "check",
        DJANGO_ENV="production",
        DJANGO_ALLOWED_HOSTS="pay.example.com",
        DJANGO_SECRET_KEY="dev-only-not-secret-8f3b1c2d9e7a6f5b4c3d2e1f0a9b8c7d",
    )
    assert result.returncode != 0


def test_production_passes_check_deploy_without_warnings() -> None:
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_ENV="production",
        DJANGO_ALLOWED_HOSTS="pay.example.com",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        **REAL_PROVIDERS,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def _production(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return _manage(
        *args,
        DJANGO_ENV="production",
        DJANGO_ALLOWED_HOSTS="pay.example.com",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        **env,
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, ["SMS_SENDER=console", "PAYMENT_GATEWAY=simulated"]),  # the defaults (finding 9)
        ({**REAL_PROVIDERS, "SMS_SENDER": "console"}, ["SMS_SENDER=console"]),
        ({**REAL_PROVIDERS, "SMS_SENDER": "memory"}, ["SMS_SENDER=memory"]),
        ({**REAL_PROVIDERS, "SMS_SENDER": "simulated"}, ["SMS_SENDER=simulated"]),
        ({**REAL_PROVIDERS, "SMS_SENDER": "file"}, ["SMS_SENDER=file"]),
        ({**REAL_PROVIDERS, "PAYMENT_GATEWAY": "simulated"}, ["PAYMENT_GATEWAY=simulated"]),
        (
            {**REAL_PROVIDERS, "PAYMENT_GATEWAY": "simulators.bank.SimulatedGateway"},
            ["PAYMENT_GATEWAY=simulators.bank.SimulatedGateway"],
        ),
        (
            {**REAL_PROVIDERS, "SMS_SENDER": "simulators.sms.SimulatedSmsGateway"},
            ["SMS_SENDER=simulators.sms.SimulatedSmsGateway"],
        ),
        ({**REAL_PROVIDERS, "ALLOW_SIMULATED_PROVIDERS": "false", "SMS_SENDER": "console"}, ["SMS_SENDER"]),
    ],
)
def test_production_refuses_simulated_providers(env: dict[str, str], named: list[str]) -> None:
    """Finding 9: no production start on the console SMS sender (codes in the log) or the simulated bank."""
    result = _production("check", **env)
    assert result.returncode != 0
    assert "ALLOW_SIMULATED_PROVIDERS" in result.stderr
    assert all(name in result.stderr for name in named), result.stderr


@pytest.mark.parametrize("secret", ["", "dev-bank-secret-not-for-production", "too-short"])
def test_production_refuses_the_http_gateway_without_a_real_secret(secret: str) -> None:
    """The development secret is public: a bank taking it would take anyone's charges."""
    result = _production(
        "check", **{**REAL_PROVIDERS, "PAYMENT_GATEWAY": "http", "GATEWAY_HTTP_SECRET": secret}
    )
    assert result.returncode != 0
    assert "GATEWAY_HTTP_SECRET" in result.stderr


def test_production_starts_on_the_http_gateway_with_a_real_secret() -> None:
    secret = secrets.token_urlsafe(32)
    result = _production(
        "check", **{**REAL_PROVIDERS, "PAYMENT_GATEWAY": "http", "GATEWAY_HTTP_SECRET": secret}
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("secret", ["dev-bank-secret-not-for-production", "too-short"])
def test_production_refuses_a_development_or_short_webhook_secret(secret: str) -> None:
    """Whoever knows the webhook secret can tell us "charge succeeded": the public development value (or a
    short one) is refused at start, as the gateway's own secret is."""
    result = _production(
        "check",
        **{
            **REAL_PROVIDERS,
            "PAYMENT_GATEWAY": "http",
            "GATEWAY_HTTP_SECRET": secrets.token_urlsafe(32),
            "BANK_WEBHOOK_SECRET": secret,
        },
    )
    assert result.returncode != 0
    assert "BANK_WEBHOOK_SECRET" in result.stderr


def test_production_refuses_a_weak_gateway_secret_the_webhooks_would_fall_back_to() -> None:
    """An acquirer adapter (not ``http``) leaves GATEWAY_HTTP_SECRET unchecked by the gateway's own rule;
    set to the development value it would still sign webhooks."""
    result = _production(
        "check", **{**REAL_PROVIDERS, "GATEWAY_HTTP_SECRET": "dev-bank-secret-not-for-production"}
    )
    assert result.returncode != 0
    assert "BANK_WEBHOOK_SECRET" in result.stderr


def test_production_starts_with_a_real_webhook_secret() -> None:
    result = _production(
        "check",
        **{
            **REAL_PROVIDERS,
            "PAYMENT_GATEWAY": "http",
            "GATEWAY_HTTP_SECRET": secrets.token_urlsafe(32),
            "BANK_WEBHOOK_SECRET": secrets.token_urlsafe(32),
        },
    )
    assert result.returncode == 0, result.stderr


def test_production_with_simulated_providers_allowed_starts_but_the_deploy_check_warns() -> None:
    allowed = _production("check", ALLOW_SIMULATED_PROVIDERS="true")
    assert allowed.returncode == 0, allowed.stderr
    deploy = _production("check", "--deploy", "--fail-level", "WARNING", ALLOW_SIMULATED_PROVIDERS="true")
    assert deploy.returncode != 0
    output = deploy.stdout + deploy.stderr
    assert "config.W001" in output
    assert "SMS_SENDER=console" in output
    assert "PAYMENT_GATEWAY=simulated" in output


def test_development_check_deploy_does_warn() -> None:
    """The deploy check can fail: development settings are not fit for production."""
    result = _manage("check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0


def test_language_and_time_zone(settings) -> None:
    assert settings.TIME_ZONE == "Asia/Shanghai"
    assert settings.USE_TZ is True
    assert settings.LANGUAGE_CODE == "zh-hans"
    assert "en" in dict(settings.LANGUAGES)


@pytest.mark.parametrize(("allowed", "installed"), [("false", False), ("true", True)])
def test_production_installs_the_simulators_only_when_allowed(allowed: str, installed: bool) -> None:
    """Without ALLOW_SIMULATED_PROVIDERS nothing may run on them: their app, models and tables stay out."""
    result = _production(
        "shell",
        "-c",
        "from django.conf import settings; print('simulators' in settings.INSTALLED_APPS)",
        **REAL_PROVIDERS,
        ALLOW_SIMULATED_PROVIDERS=allowed,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == str(installed)  # after "N objects imported automatically"


def test_production_without_the_simulators_has_no_pending_model_changes() -> None:
    """The simulators' models left repayments and notifications by state alone; without the simulators app
    the remaining apps' migrations still describe their models exactly."""
    result = _production("makemigrations", "--check", "--dry-run", **REAL_PROVIDERS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_simulators_are_installed_in_development_and_tests(settings) -> None:
    assert "simulators" in settings.INSTALLED_APPS
