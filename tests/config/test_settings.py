"""Production mode refuses to start without a secret and passes check --deploy with no warning."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
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
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_development_check_deploy_does_warn() -> None:
    """The deploy check can fail: development settings are not fit for production."""
    result = _manage("check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0


def test_language_and_time_zone(settings) -> None:
    assert settings.TIME_ZONE == "Asia/Shanghai"
    assert settings.USE_TZ is True
    assert settings.LANGUAGE_CODE == "zh-hans"
    assert "en" in dict(settings.LANGUAGES)
