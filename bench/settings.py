"""Settings for the benchmark's web server: the service as configured, plus one bare view (the ceiling)."""

from config.settings.base import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
DEBUG = False
