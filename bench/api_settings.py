"""Settings of the API benchmark server: production settings, plus the benchmark-only comparison views."""

from config.settings.production import *  # noqa: F403

ROOT_URLCONF = "bench.api_urls"
