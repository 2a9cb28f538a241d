"""The floor for the legacy import: a hand-written set-based SQL pipeline into the same four tables.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty_bench_floor python bench/import_floor.py

The database named in DATABASE_URL is dropped and created again: point it at a scratch database. It gets the
project's migrated schema with every index, foreign key and trigger, and a program with two tiers, as in
``bench/import_legacy.py``, whose generated file it uses. Then, on one connection and in one transaction, with
plain psycopg:

1. COPY the file into an unlogged staging table, every field as text;
2. convert in SQL (points without thousands separators, day-first dates in the program's time zone, lower-case
   email, phone without spaces, tier code to tier id), skipping rows that do not convert, and number the rows;
3. ``INSERT … SELECT`` members, accounts (cached balances set in the same statement), entries and lots, with ids
   reserved from each table's sequence up front so no statement joins another's output;
4. COMMIT, where PostgreSQL checks the deferred foreign keys.

No validation beyond what the inserts need, no tier changes, no import links, no batch bookkeeping: the least
work that fills the four tables and leaves the ledger reconciled. Times exclude generating the file and setting
up the database; "end to end" runs from connecting to the end of COMMIT.
"""

import argparse
import os
import random
import time
from pathlib import Path

import benchenv
from import_legacy import manage, prepared_file, recreate_database, setup_django

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/loyalty_bench_floor"
FIELDS = ("external_id", "first_name", "last_name", "email", "phone", "points", "last_activity", "tier")

CREATE_RAW = f"CREATE UNLOGGED TABLE floor_raw ({', '.join(f'{name} text' for name in FIELDS)})"
COPY_RAW = (
    f"COPY floor_raw ({', '.join(FIELDS)}) FROM STDIN WITH (FORMAT csv, DELIMITER ';', HEADER true, ENCODING 'UTF8')"
)
CREATE_ROWS = """
CREATE UNLOGGED TABLE floor_rows (
    n bigint, external_id text, first_name text, last_name text, email text, phone text,
    points bigint, effective_at timestamptz, tier_id bigint
)
"""
# The header's byte-order mark is skipped with the header; COPY accepts CRLF line ends. A day-first date is read
# by the cast under DateStyle DMY, at midnight in the session time zone (the program's).
PREPARE = """
INSERT INTO floor_rows
SELECT row_number() OVER (), r.external_id, COALESCE(r.first_name, ''), COALESCE(r.last_name, ''),
       COALESCE(lower(r.email), ''), COALESCE(replace(r.phone, ' ', ''), ''),
       replace(r.points, ',', '')::bigint, r.last_activity::timestamptz, COALESCE(t.id, %(entry_tier)s)
FROM floor_raw r LEFT JOIN loyalty_tier t ON t.program_id = %(program)s AND t.code = r.tier
WHERE r.points ~ '^[0-9]{1,3}(,[0-9]{3})*$' AND r.last_activity ~ '^[0-9]{2}/[0-9]{2}/[0-9]{4}$'
"""
# Draws ``count`` consecutive ids from a table's identity sequence and returns the first.
RESERVE = """
SELECT setval(s.seq, nextval(s.seq) + %(count)s - 1) - %(count)s + 1
FROM (SELECT pg_get_serial_sequence(%(table)s, 'id') AS seq) s
"""
INSERT_MEMBERS = """
INSERT INTO members_member (id, external_id, email, phone, first_name, last_name, birth_date, gender, city, region,
                            country, preferred_language, status, blocked_reason, joined_at, enrollment_channel,
                            created_at, updated_at)
SELECT %(member)s + n - 1, external_id, email, phone, first_name, last_name, NULL, '', '', '',
       '', 'en', 'active', '', now(), 'import',
       now(), now()
FROM floor_rows
"""
INSERT_ACCOUNTS = """
INSERT INTO loyalty_pointaccount (id, member_id, program_id, tier_id, tier_achieved_at, tier_grace_until, available,
                                  pending, lifetime_earned, lifetime_spent, lifetime_expired,
                                  negative_balance_policy, last_activity_at, created_at)
SELECT %(account)s + n - 1, %(member)s + n - 1, %(program)s, tier_id, now(), NULL, points,
       0, points, 0, 0,
       %(policy)s, CASE WHEN points > 0 THEN effective_at END, now()
FROM floor_rows
"""
INSERT_ENTRIES = """
INSERT INTO loyalty_ledgerentry (id, account_id, kind, points, effective_at, created_at, source_type, source_id,
                                 external_reference, spend_amount, currency, reason, metadata, created_by_id,
                                 reverses_id)
SELECT %(entry)s + n - 1, %(account)s + n - 1, 'import', points, effective_at, now(), 'import', %(source)s,
       'opening:' || external_id, NULL, '', %(reason)s, '{}', NULL,
       NULL
FROM floor_rows WHERE points > 0
"""
# The benchmark program's expiry policy is "never", so lots have no expiry date, as the real import writes them.
INSERT_LOTS = """
INSERT INTO loyalty_pointlot (id, account_id, entry_id, points, remaining, activates_at, activated_at, expires_at,
                              created_at, expiry_warned_at)
SELECT %(lot)s + n - 1, %(account)s + n - 1, %(entry)s + n - 1, points, points, effective_at, now(), NULL,
       now(), NULL
FROM floor_rows WHERE points > 0
"""


def setup_program(url: str) -> tuple:
    """A program with two tiers, created through the models like bench/import_legacy.py does."""
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings.local"}
    manage("migrate", "--no-input", "-v", "0", env=env)
    setup_django(url)
    from loyalty.models import Program, Tier

    program = Program.objects.create(code="bench", name="Benchmark", timezone="Asia/Dubai")
    assert program.expiry_policy == Program.ExpiryPolicy.NEVER
    entry_tier = Tier.objects.create(program=program, rank=0, code="base", name="Base")
    Tier.objects.create(program=program, rank=1, code="gold", name="Gold")
    return program, entry_tier


def run_floor(url: str, path: Path, program, entry_tier) -> tuple[list[tuple[str, float, int]], float]:
    """Load the file; return (phase, seconds, rows affected) for each phase and the end-to-end seconds."""
    import psycopg

    phases: list[tuple[str, float, int]] = []
    params = {
        "program": program.pk,
        "entry_tier": entry_tier.pk,
        "policy": program.negative_balance_policy,
        "source": "floor",
        "reason": "Opening balance (floor benchmark)",
    }
    started = time.perf_counter()
    with psycopg.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("SET jit = off")
        cursor.execute("SET DateStyle = 'ISO, DMY'")
        cursor.execute("SELECT set_config('TimeZone', %s, false)", [program.timezone])

        mark = time.perf_counter()
        cursor.execute(CREATE_RAW)
        with open(path, "rb") as handle, cursor.copy(COPY_RAW) as copy:
            while block := handle.read(1 << 20):
                copy.write(block)
        phases.append(("COPY", time.perf_counter() - mark, cursor.rowcount))

        mark = time.perf_counter()
        cursor.execute(CREATE_ROWS)
        cursor.execute(PREPARE, params)
        count = cursor.rowcount
        assert count > 0
        for key, table in (("member", "members_member"), ("account", "loyalty_pointaccount"),
                           ("entry", "loyalty_ledgerentry"), ("lot", "loyalty_pointlot")):  # fmt: skip
            cursor.execute(RESERVE, {"table": table, "count": count})
            params[key] = cursor.fetchone()[0]
        phases.append(("convert + reserve ids", time.perf_counter() - mark, count))

        for name, statement in (("INSERT members", INSERT_MEMBERS), ("INSERT accounts", INSERT_ACCOUNTS),
                                ("INSERT entries", INSERT_ENTRIES), ("INSERT lots", INSERT_LOTS)):  # fmt: skip
            mark = time.perf_counter()
            cursor.execute(statement, params)
            phases.append((name, time.perf_counter() - mark, cursor.rowcount))

        mark = time.perf_counter()
        cursor.execute("DROP TABLE floor_raw, floor_rows")
        connection.commit()
        phases.append(("drop staging + COMMIT", time.perf_counter() - mark, 0))
    return phases, time.perf_counter() - started


def check(program, expected: dict, sample: int) -> str:
    """Counts as generated, entries equal to cached balances, reconcile empty on a sample of accounts."""
    from django.db import connection

    from loyalty.selectors import reconcile

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), COALESCE(sum(available + pending), 0), min(id), max(id) "
            "FROM loyalty_pointaccount WHERE program_id = %s",
            [program.pk],
        )
        accounts, balances, first_id, last_id = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM members_member")
        members = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*), COALESCE(sum(e.points), 0) FROM loyalty_ledgerentry e "
            "JOIN loyalty_pointaccount a ON a.id = e.account_id WHERE a.program_id = %s",
            [program.pk],
        )
        entries, entry_points = cursor.fetchone()
        cursor.execute(
            "SELECT count(*), COALESCE(sum(l.points), 0) FROM loyalty_pointlot l "
            "JOIN loyalty_pointaccount a ON a.id = l.account_id WHERE a.program_id = %s",
            [program.pk],
        )
        lots, lot_points = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM loyalty_pointaccount WHERE program_id = %s AND available > 0", [program.pk]
        )
        credited = cursor.fetchone()[0]
    assert members == accounts == expected["valid"], (members, accounts, expected)
    assert entries == lots == credited, (entries, lots, credited)
    assert entry_points == balances == lot_points == expected["points"], (entry_points, balances, expected)

    checked = time.perf_counter()
    chosen = random.Random(20261130).sample(range(first_id, last_id + 1), min(sample, accounts))
    problems = [problem for account_id in chosen for problem in reconcile(account_id=account_id)]
    assert not problems, [problem.describe() for problem in problems[:3]]
    return (
        f"{members:,} members, {accounts:,} accounts, {entries:,} entries, {lots:,} lots; "
        f"sum of entry points = sum of cached available + pending = {entry_points:,}; "
        f"reconcile empty on {len(chosen):,} sampled accounts ({time.perf_counter() - checked:.1f}s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--file", type=Path, default=None)
    parser.add_argument("--sample", type=int, default=1_000, help="Accounts checked with reconcile.")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", DEFAULT_URL)
    path, expected = prepared_file(args.rows, args.file)

    recreate_database(url)
    program, entry_tier = setup_program(url)

    load = os.getloadavg()
    print(f"machine at start: {benchenv.machine()}")
    phases, seconds = run_floor(url, path, program, entry_tier)
    summary = check(program, expected, args.sample)

    print()
    print(f"floor: {args.rows:,} rows in {seconds:.1f}s = {args.rows / seconds:,.0f} rows/s end to end")
    for name, phase_seconds, affected in phases:
        rows = f"{affected:>9,} rows" if affected else " " * 14
        print(f"  {name:<31} {phase_seconds:7.2f}s {rows}  {args.rows / phase_seconds:>12,.0f} rows/s")
    print(f"  {summary}")
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (2 cores, shared)")


if __name__ == "__main__":
    main()
