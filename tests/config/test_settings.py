import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DATABASE"))}
    environment.update(env)
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


def test_production_settings_pass_the_deployment_checks_without_warnings():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY="k" * 20 + "9f3$Jq!vX2@pL8#sR5^tW0&yZ7*bN4(mC1)hG6",
        DJANGO_ALLOWED_HOSTS="loyalty.example.com",
        DATABASE_URL="postgres://loyalty@db.invalid:5432/loyalty",
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_refuse_to_start_without_a_secret_key():
    result = _manage(
        "check",
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_ALLOWED_HOSTS="loyalty.example.com",
        DATABASE_URL="postgres://loyalty@db.invalid:5432/loyalty",
    )

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr
