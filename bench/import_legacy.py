"""Benchmark of the legacy balance import, end to end, against django-import-export's bulk mode.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty_bench_import python bench/import_legacy.py

The database named in DATABASE_URL is dropped and created again: point it at a scratch database. Steps:

1. generate a legacy file (semicolon-delimited UTF-8 with a BOM, day-first dates, grouped thousands, half of the
   rows with a phone number, some Arabic names, 1 % of rows broken on purpose) unless it exists;
2. run ``manage.py import_legacy`` on it in a child process under ``/usr/bin/time -v``: wall time and peak RSS
   of the import process (reading, staging, validation, members, accounts, lots, entries and balances);
3. check the result (``reconcile`` empty, counts as generated);
4. import the first N rows as members only with django-import-export's bulk mode, for the ratio.
"""

import argparse
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/loyalty_bench_import"
FIRST_NAMES = ["Aisha", "Omar", "Lina", "Sami", "Huda", "Ziad", "Maya", "Rami", "Nour", "Karim", "محمد", "فاطمة"]
LAST_NAMES = ["Rahman", "Haddad", "Saleh", "Nasser", "Karim", "Fares", "Aziz", "Khalil", "Issa", "الزهراء"]
HEADER = "Customer No;First Name;Last Name;E-mail;Mobile;Points Balance;Last Activity;Tier\r\n"


def generate(path: Path, rows: int) -> dict:
    """Write the file row by row (never held whole) and return what a correct import must produce."""
    rng = random.Random(20261123)
    valid, points_total, broken = 0, 0, 0
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        handle.write(HEADER)
        for number in range(1, rows + 1):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            points = rng.randint(0, 250_000)
            day = f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(2023, 2025)}"
            phone = (
                f"+971 5{rng.choice('024568')} {rng.randint(100, 999)} {rng.randint(1000, 9999)}" if number % 2 else ""
            )
            email = f"C{number:07d}@Example.com" if number % 3 else ""
            tier = "gold" if number % 7 == 0 else ""
            shown = f'"{points:,}"' if points >= 1000 else str(points)
            if number % 100 == 0:
                shown, broken = f"{points}.5", broken + 1
            else:
                valid += 1
                points_total += points
            handle.write(f"C{number:07d};{first};{last};{email};{phone};{shown};{day};{tier}\r\n")
    return {"rows": rows, "valid": valid, "broken": broken, "points": points_total}


def prepared_file(rows: int, path: Path | None) -> tuple[Path, dict]:
    """The legacy file to import (generated under .data/bench unless given) and what its import must produce."""
    path = path or ROOT / ".data" / "bench" / f"legacy_{rows}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"file: {path}")
    started = time.perf_counter()
    expected = generate(path, rows)
    print(f"generated {rows:,} rows ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.1f}s")
    return path, expected


def recreate_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin_url = urlunparse(parsed._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def manage(*args: str, env: dict, timed: bool = False) -> tuple[float, int, str]:
    """Run a management command; return wall seconds, peak RSS in KiB (when timed) and its output."""
    command = [sys.executable, str(ROOT / "manage.py"), *args]
    if timed:
        command = ["/usr/bin/time", "-v", *command]
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    rss = 0
    if timed:
        found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr)
        rss = int(found.group(1)) if found else 0
    return elapsed, rss, result.stdout


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def django_import_export_bulk(path: Path, rows: int) -> float:
    """Members only (one table of the four), through a ModelResource in bulk mode; return rows per second."""
    import csv
    import itertools

    import tablib

    from members.resources import MemberResource

    class BulkMemberResource(MemberResource):
        class Meta(MemberResource.Meta):
            use_bulk = True
            batch_size = 1_000
            skip_diff = True

    dataset = tablib.Dataset(headers=["external_id", "first_name", "last_name", "email", "phone"])
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter=";")
        next(reader)
        for row in itertools.islice(reader, rows):
            dataset.append([f"D{row[0]}", row[1], row[2], row[3].lower(), row[4].replace(" ", "")])
    started = time.perf_counter()
    result = BulkMemberResource().import_data(dataset, dry_run=False, raise_errors=True)
    elapsed = time.perf_counter() - started
    assert not result.has_errors()
    return rows / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--die-rows", type=int, default=20_000)
    parser.add_argument("--file", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=None, help="Writers (default: the import's own default).")
    parser.add_argument("--chunk-rows", type=int, default=None, help="Rows per chunk (default: the import's).")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", DEFAULT_URL)
    path, expected = prepared_file(args.rows, args.file)

    recreate_database(url)
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings.local"}
    manage("migrate", "--no-input", "-v", "0", env=env)
    setup_django(url)
    from loyalty.models import ImportBatch, Program, Tier

    program = Program.objects.create(code="bench", name="Benchmark", timezone="Asia/Dubai")
    Tier.objects.create(program=program, rank=0, code="base", name="Base")
    Tier.objects.create(program=program, rank=1, code="gold", name="Gold")

    tuning = [*(["--workers", str(args.workers)] if args.workers else []),
              *(["--chunk-rows", str(args.chunk_rows)] if args.chunk_rows else [])]  # fmt: skip
    load = os.getloadavg()
    seconds, rss_kib, output = manage(
        "import_legacy", str(path), "--program", "bench", "--date-format", "dmy", "--thousands", "comma",
        "--max-points", "1000000", "--no-progress", *tuning, env=env, timed=True,
    )  # fmt: skip
    batch = ImportBatch.objects.get(program=program)
    print(output.split("\n  line")[0])
    print(f"timings: {batch.timings}")

    from django.db import connection

    from loyalty.selectors import reconcile

    checked = time.perf_counter()
    problems = reconcile(program_id=program.pk)
    reconcile_seconds = time.perf_counter() - checked
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), COALESCE(sum(e.points), 0) FROM loyalty_ledgerentry e "
            "JOIN loyalty_pointaccount a ON a.id = e.account_id WHERE a.program_id = %s",
            [program.pk],
        )
        entries, entry_points = cursor.fetchone()
    assert batch.status == ImportBatch.Status.COMMITTED, batch.error
    assert batch.rows_valid == expected["valid"] and batch.rows_rejected == expected["broken"]
    assert entry_points == expected["points"] == batch.points_imported
    assert not problems, problems[:3]

    die_rate = django_import_export_bulk(path, args.die_rows)
    rate = args.rows / seconds
    print()
    print(f"legacy import:   {args.rows:,} rows in {seconds:.1f}s = {rate:,.0f} rows/s end to end "
          f"(peak RSS of the import process {rss_kib / 1024:.0f} MB)")  # fmt: skip
    print(f"                 {batch.members_created:,} members, {batch.accounts_created:,} accounts, "
          f"{entries:,} entries and lots; reconcile clean ({reconcile_seconds:.1f}s)")  # fmt: skip
    print(f"django-import-export bulk mode, members only: {args.die_rows:,} rows at {die_rate:,.0f} rows/s")
    print(f"ratio: {rate / die_rate:.1f}x")
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (2 cores, shared)")


if __name__ == "__main__":
    main()
