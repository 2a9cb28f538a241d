"""Per-batch staging tables: the raw text of every record, loaded with COPY.

The tables are UNLOGGED (no WAL: they are scratch data derived from the stored file). After a database crash
PostgreSQL empties them; ``staged_rows`` then disagrees with the batch and the file is simply staged again, which
gives the same rows in the same order because staging is a pure function of the file and the options.
"""

from collections.abc import Callable

import psycopg.sql as pgsql
from django.db import connection

from loyalty.legacy_import.columns import ResolvedColumns
from loyalty.legacy_import.reading import LegacyReader, PhoneNormalizer

PROGRESS_EVERY_ROWS = 50_000


def raw_table(batch_id: int) -> str:
    return f"loyalty_import_raw_{int(batch_id)}"


def rows_table(batch_id: int) -> str:
    return f"loyalty_import_rows_{int(batch_id)}"


def drop_tables(batch_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {raw_table(batch_id)}, {rows_table(batch_id)}")


def drop_rows_table(batch_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {rows_table(batch_id)}")


def table_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return cursor.fetchone()[0]


def staged_rows(batch_id: int) -> int | None:
    """How many records are staged for the batch, or None when nothing is."""
    if not table_exists(raw_table(batch_id)):
        return None
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {raw_table(batch_id)}")
        return cursor.fetchone()[0]


def stage_file(
    *,
    batch_id: int,
    reader: LegacyReader,
    columns: ResolvedColumns,
    default_region: str,
    progress: Callable[[int], None] | None = None,
) -> int:
    """COPY every record of the file into a fresh raw table; return the number of records."""
    fields = sorted(columns.positions, key=columns.positions.get)
    positions = [columns.positions[name] for name in fields]
    width = len(columns.headers)
    phone_at = columns.positions.get("phone")
    country_at = columns.positions.get("country")
    normalize_phone = PhoneNormalizer(default_region)
    table = raw_table(batch_id)
    definitions = ", ".join(f"f_{name} text" for name in fields)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table}, {rows_table(batch_id)}")
        cursor.execute(
            f"CREATE UNLOGGED TABLE {table} (seq bigint PRIMARY KEY, line integer NOT NULL, decode_error text, "
            f"width text, phone_e164 text, {definitions})"
        )
        copy_sql = pgsql.SQL("COPY {} (seq, line, decode_error, width, phone_e164, {}) FROM STDIN").format(
            pgsql.Identifier(table), pgsql.SQL(", ").join(pgsql.Identifier(f"f_{name}") for name in fields)
        )
        count = 0
        with cursor.cursor.copy(copy_sql) as copy:
            for record in reader.records():
                values = record.values
                present = len(values)
                problem = None
                if present != width and not (present > width and not any(v.strip() for v in values[width:])):
                    problem = f"{present}/{width}"
                row = [values[index] if index < present else None for index in positions]
                decode_error = record.decode_error or None
                if "\x00" in "".join(value for value in row if value):
                    # PostgreSQL text cannot hold NUL; the row is rejected as undecodable instead.
                    row = [value.replace("\x00", "") if value else value for value in row]
                    decode_error = decode_error or "NUL"
                phone = None
                if phone_at is not None and phone_at < present:
                    raw_phone = values[phone_at].strip()
                    if raw_phone:
                        region = values[country_at].strip() if country_at is not None and country_at < present else ""
                        phone = normalize_phone(raw_phone, region if len(region) == 2 else "")
                copy.write_row((record.seq, record.line, decode_error, problem, phone, *row))
                count = record.seq
                if progress is not None and count % PROGRESS_EVERY_ROWS == 0:
                    progress(reader.bytes_read)
        cursor.execute(f"ANALYZE {table}")
    if progress is not None:
        progress(reader.bytes_read)
    return count
