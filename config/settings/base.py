"""Settings shared by every environment. Values come from the environment (django-environ)."""

from pathlib import Path

import environ
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent
DATA_DIR = BASE_DIR / ".data"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("DJANGO_SECRET_KEY", default="insecure-development-key-change-me-in-production-0123456789")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])

INSTALLED_APPS = [
    "config.apps.OperatorAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "import_export",
    "members",
    "loyalty",
    "rewards",
    "campaigns",
    "analytics",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

if env("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
else:
    from config.embedded_postgres import database_settings

    DATABASES = {"default": database_settings(DATA_DIR / "pg")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("ar", _("Arabic")), ("ms", _("Malay"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env("DJANGO_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))

LOGIN_URL = "admin:login"

# Background work. With no broker configured, Celery uses kombu's filesystem transport under .data/ so a real
# worker and beat run with no server at all; production points CELERY_BROKER_URL at Redis or RabbitMQ.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _queue_dir = DATA_DIR / "celery" / "queue"
    _processed_dir = DATA_DIR / "celery" / "processed"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_processed_dir),
        "store_processed": False,
        "control_folder": str(DATA_DIR / "celery" / "control"),
    }
    for _folder in (_queue_dir, _processed_dir, DATA_DIR / "celery" / "control"):
        _folder.mkdir(parents=True, exist_ok=True)
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=None)
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celery" / "beat-schedule")
CELERY_BEAT_SCHEDULE = {
    # Each program runs its nightly jobs at its own local hour; the hourly tick finds the programs that are due.
    "loyalty-nightly-tick": {
        "task": "loyalty.tasks.nightly_tick",
        "schedule": 3600.0,
    },
    "loyalty-webhooks-requeue-due": {
        "task": "loyalty.partner_tasks.webhooks_requeue_due",
        "schedule": 300.0,
    },
    "loyalty-idempotency-records-purge": {
        "task": "loyalty.partner_tasks.idempotency_records_purge",
        "schedule": 3600.0,
    },
}
# Task modules outside the apps' tasks.py, which autodiscovery does not import.
CELERY_IMPORTS = ["loyalty.partner_tasks"]

# Manual point adjustments above this size (absolute points) wait for a second person's approval.
LOYALTY_ADJUSTMENT_APPROVAL_THRESHOLD = env.int("LOYALTY_ADJUSTMENT_APPROVAL_THRESHOLD", default=10_000)

# The partner API. Partners authenticate with API keys; every error has one JSON shape (config.api).
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_AUTHENTICATION_CLASSES": ["loyalty.api.auth.PartnerKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["loyalty.api.auth.PartnerKeyThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "config.api.IdCursorPagination",
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Loyalty program manager API",
    "DESCRIPTION": (
        "The partner API: enroll and look up members, earn points from purchases, credit, redeem and reverse "
        "points, read balances, lots and your own transactions. Authenticate with `Authorization: Bearer <key>`; "
        "send an `Idempotency-Key` header with every write. See docs/api.md for a walk-through."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Path ids are bigints; larger numbers never match a URL.
    "PATH_CONVERTER_OVERRIDE": {
        "id": {"type": "integer", "format": "int64", "minimum": 1, "maximum": 999_999_999_999_999_999},
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    # No badge from the public online validator: the docs fetch nothing from elsewhere.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Local memory by default; set CACHE_URL (e.g. redis://127.0.0.1:6379/1) so that API-key revocations and
# throttling counters are shared by every process at once.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
# Seconds an API key's checked credentials are reused before the database is asked again.
LOYALTY_API_KEY_CACHE_SECONDS = env.int("LOYALTY_API_KEY_CACHE_SECONDS", default=30)
LOYALTY_WEBHOOK_TIMEOUT_SECONDS = env.int("LOYALTY_WEBHOOK_TIMEOUT_SECONDS", default=10)
LOYALTY_WEBHOOK_MAX_ATTEMPTS = env.int("LOYALTY_WEBHOOK_MAX_ATTEMPTS", default=10)
LOYALTY_WEBHOOK_RETRY_BASE_SECONDS = env.float("LOYALTY_WEBHOOK_RETRY_BASE_SECONDS", default=30.0)
LOYALTY_WEBHOOK_RETRY_MAX_SECONDS = env.float("LOYALTY_WEBHOOK_RETRY_MAX_SECONDS", default=3600.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {"pgserver": {"level": "WARNING"}},
}
