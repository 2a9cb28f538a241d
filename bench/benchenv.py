"""Start Django for a benchmark, on a database of its own.

With ``DATABASE_URL`` set, that server and database are used (the database is created if missing). Without it,
the embedded PostgreSQL under ``.data/pg`` is started (or joined) and a separate database, ``loyalty_bench`` by
default, is used so benchmark data never mixes with the development data. The schema is migrated either way.
Settings are ``config.settings.local`` with ``DEBUG`` off, so Django does not record every query.
"""

import math
import os
import platform
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE = "loyalty_bench"


def _create_database(params: dict) -> None:
    import psycopg
    from psycopg import sql

    name = params["NAME"]
    connect = {"dbname": "postgres", "user": params.get("USER") or None, "password": params.get("PASSWORD") or None}
    if params.get("HOST"):
        connect["host"] = params["HOST"]
    if params.get("PORT"):
        connect["port"] = params["PORT"]
    connect.update(params.get("OPTIONS", {}))
    connect = {key: value for key, value in connect.items() if value is not None}
    with psycopg.connect(**connect, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def configure(*, database: str = DEFAULT_DATABASE, migrate: bool = True) -> str:
    """Point Django at the benchmark database, set it up, migrate; return a description of the database."""
    if str(BASE_DIR) not in sys.path:
        sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ["DJANGO_DEBUG"] = "false"
    if not os.environ.get("DATABASE_URL"):
        from config.embedded_postgres import database_settings

        socket_dir = database_settings(BASE_DIR / ".data" / "pg")["HOST"]
        os.environ["DATABASE_URL"] = f"postgres://postgres@/{database}?host={socket_dir}"
        where = "embedded PostgreSQL"
    else:
        where = "PostgreSQL from DATABASE_URL"

    import environ

    _create_database(environ.Env.db_url_config(os.environ["DATABASE_URL"]))

    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database(), current_setting('server_version')")
        name, version = cursor.fetchone()
    return f"{where}, database {name}, server {version}"


def machine() -> str:
    """CPU count, memory and load, for the record (no host names)."""
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split("\n")[0].split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB RAM"
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"{os.cpu_count()} CPUs{memory}, Python {platform.python_version()}, load average {load}"


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), math.ceil(fraction * len(sorted_values))))
    return sorted_values[rank - 1]


class Timer:
    """``with Timer() as t: ...`` then ``t.seconds``."""

    def __enter__(self) -> "Timer":
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start
