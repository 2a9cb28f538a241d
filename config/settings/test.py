"""Settings for the test suite: fast password hashing, eager Celery unless a test starts a real worker."""

from .base import *  # noqa: F403

DEBUG = False

# One test database per test session (inherited by the subprocesses it starts), so sessions run side by side
# on one server never drop each other's database.
import os  # noqa: E402

_session = os.environ.setdefault("LOYALTY_TEST_SESSION", str(os.getpid()))
DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{_session}"}  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

if CELERY_BROKER_URL == "filesystem://":  # noqa: F405
    # A private queue per test session, so a development worker never picks up test tasks (or the reverse).
    import tempfile
    from pathlib import Path

    _queue = Path(tempfile.mkdtemp(prefix="loyalty-test-queue-"))
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue / "queue"),
        "data_folder_out": str(_queue / "queue"),
        "control_folder": str(_queue / "control"),
        "store_processed": False,
    }
    for _folder in ("queue", "control"):
        (_queue / _folder).mkdir()
