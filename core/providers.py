"""One loader for the providers a setting chooses: the bank gateway (``PAYMENT_GATEWAY``), the SMS sender
(``SMS_SENDER``), and any later seam of the same kind.

A setting names a class by its dotted path, or by a short alias from ``settings.PROVIDER_ALIASES`` (kept in
one place, config/providers.py, with the list of what is simulated). The class is built with no arguments,
once per configuration: a seeded simulator must draw one sequence across calls (a new instance per call
would repeat its first draw forever), and a real client keeps its connection pool. A change of the
setting, or of any setting whose name starts with one of the prefixes the caller says the provider reads
(``override_settings``, pytest-django's ``settings`` fixture), builds it anew on next use.

Knowing no app, the loader lets the domain name a plugin (``simulators.bank.SimulatedGateway``) without
importing it.
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

_built: dict[str, tuple[str, Any]] = {}  # setting -> (its value when built, the instance)
_reads: dict[str, tuple[str, ...]] = {}  # setting -> prefixes of the settings its provider reads
_lock = threading.Lock()


def load_provider(
    setting: str, *, default: str, methods: tuple[str, ...], reads: tuple[str, ...] = ()
) -> Any:
    """The instance of the class ``settings.<setting>`` names (``default`` when unset or empty), built once
    per configuration. ``methods`` are what a provider must have (checked when it is built, so a wrong
    class fails at its first use with the setting's name); ``reads`` are the prefixes of its own settings.
    """
    value = getattr(settings, setting, None) or default
    with _lock:
        built = _built.get(setting)
        if built is not None and built[0] == value:
            return built[1]
        provider = _build(setting, value, methods)
        _built[setting] = (value, provider)
        _reads[setting] = reads
    return provider


def built_provider(setting: str) -> Any | None:
    """The instance built for ``setting``, if any, without building one (to close it, say)."""
    with _lock:
        built = _built.get(setting)
    return None if built is None else built[1]


def forget_provider(setting: str) -> None:
    """Drop the built instance, so the next ``load_provider`` builds a new one (a fresh seed)."""
    with _lock:
        _built.pop(setting, None)


def _build(setting: str, value: str, methods: tuple[str, ...]) -> Any:
    aliases: dict[str, str] = getattr(settings, "PROVIDER_ALIASES", {}).get(setting, {})
    path = aliases.get(value, value)
    if "." not in path:
        names = ", ".join(name for name in aliases if "." not in name)
        raise ImproperlyConfigured(
            f"{setting}={value!r} is neither one of {names} nor a dotted path to a class"
        )
    try:
        cls = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(f"{setting}={value!r} cannot be imported: {exc}") from exc
    provider = cls()
    missing = [method for method in methods if not callable(getattr(provider, method, None))]
    if missing:
        raise ImproperlyConfigured(f"{setting}={value!r} lacks {', '.join(missing)}")
    return provider


@receiver(setting_changed)
def _setting_changed(*, setting: str, **kwargs: object) -> None:
    with _lock:
        for name, prefixes in _reads.items():
            if setting in (name, "PROVIDER_ALIASES") or setting.startswith(prefixes):
                _built.pop(name, None)
