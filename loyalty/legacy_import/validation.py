"""Set-based validation of a staged batch: one statement builds the typed rows table with each row's verdict.

Each row gets ``errors``, an array of ``code:field`` (several per row when several rules fail), and ``skip``, the
batch that already imported the very same row (re-imports create nothing new). A row is written only when it
has no errors and no skip. Rules:

- required fields present; text within the column's length, without control characters;
- points: a whole number in the chosen number format (a decimal part is never rounded: it is rejected), not
  negative for a balance, never zero for a history entry, within the batch's cap;
- dates: real calendar dates in ISO or the chosen day-first / month-first format, not in the future; an expiry
  still ahead; a birth date between 1900 and today;
- email shape, phone valid (normalised to E.164 while streaming), country code, language, status and tier known;
- duplicates: the same member (balances) or reference (history) on several lines are all rejected, since which
  one is right cannot be known; a row already imported by another batch is skipped if identical and rejected
  if it differs;
- the member is not blocked, the account owes nothing, and a history never leaves an account below zero.
"""

import itertools
from concurrent.futures import ThreadPoolExecutor

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.legacy_import import sqlparts
from loyalty.legacy_import.columns import ResolvedColumns, fields_for
from loyalty.legacy_import.options import DATE_FORMATS, ImportOptions
from loyalty.legacy_import.staging import raw_table, rows_table
from loyalty.models import ImportKind, Program

LANGUAGES = {
    "en": "en", "english": "en", "ar": "ar", "arabic": "ar", "عربي": "ar", "العربية": "ar",
    "ms": "ms", "malay": "ms", "melayu": "ms", "bahasamelayu": "ms", "bahasa melayu": "ms",
}  # fmt: skip
KINDS = {
    "earn": "earn", "earned": "earn", "credit": "earn", "accrual": "earn", "e": "earn", "c": "earn", "+": "earn",
    "spend": "spend", "spent": "spend", "redeem": "spend", "redemption": "spend", "debit": "spend", "burn": "spend",
    "r": "spend", "d": "spend", "-": "spend",
}  # fmt: skip
TEXT_LIMITS = {"external_id": 64, "first_name": 150, "last_name": 150, "email": 254, "description": 255}
REFERENCE_MAX = 120


def messages(options: ImportOptions) -> dict[str, str]:
    """The reason shown for each code, in the active language."""
    return {
        "encoding": _("The line holds bytes that are not valid %(encoding)s text.") % {"encoding": "{encoding}"},
        "columns": _("The row does not have as many fields as the header (found / expected)."),
        "required": _("A value is required."),
        "too_long": _("The value is longer than the field allows."),
        "control": _("The value contains control characters."),
        "points": _("Not a whole number of points in the chosen number format; points are never rounded."),
        "negative": _("An opening balance cannot be negative."),
        "zero": _("A ledger entry cannot be of zero points."),
        "cap": _("More points than the cap of %(cap)s per row.") % {"cap": options.max_points},
        "date": _("Not a real date in the format %(format)s (or YYYY-MM-DD).")
        % {"format": DATE_FORMATS[options.date_format]},
        "future": _("The date is in the future."),
        "expired": _("These points would already have expired."),
        "expiry_order": _("The expiry is not after the balance date."),
        "birth_range": _("A birth date must be between 1900 and today."),
        "email": _("Not a valid email address."),
        "phone": _("Not a valid phone number (give a country code, or choose a default region)."),
        "country": _("Not a two-letter ISO country code."),
        "language": _("Unknown language; use en, ar or ms."),
        "status": _("Unknown status; use active or blocked."),
        "tier": _("No tier of the program has this code or name."),
        "kind": _("Unknown type; use earn or spend."),
        "sign": _("The type and the sign of the points disagree."),
        "amount": _("Not an amount of money in the chosen number format."),
        "duplicate": _("The same value is on several lines of the file; none of them is imported."),
        "conflict": _("A different row with this key was already imported by another batch."),
        "blocked": _("The member is blocked."),
        "debt": _("The member's account owes points; settle it through the ledger first."),
        "below_zero": _("The member's history would leave the account below zero."),
        "already_imported": _("Already imported by another batch; skipped."),
    }


# Numbers and dates are read with Arabic-Indic digits turned into ASCII ones.
_NUMERIC = frozenset({"points", "amount", "balance_date", "expires_at", "birth_date", "date"})


def _field_sql(columns: ResolvedColumns, name: str) -> str:
    cleaned = sqlparts.clean(f"s.f_{name}" if name in columns.positions else None)
    return sqlparts.digits(cleaned) if name in _NUMERIC and name in columns.positions else cleaned


def _text_rules(name: str, alias: str = "v") -> str:
    limit = TEXT_LIMITS.get(name)
    length = f"WHEN length({alias}.{name}) > {limit} THEN 'too_long:{name}' " if limit else ""
    return f"CASE {length}WHEN {alias}.{name} ~ %(control_chars)s THEN 'control:{name}' END"


def _choice_sql(expression: str, values: dict[str, str]) -> str:
    cases = " ".join(f"WHEN '{key}' THEN '{value}'" for key, value in values.items())
    return f"CASE lower({expression}) {cases} END"


def build_rows(
    *, batch_id: int, program: Program, options: ImportOptions, columns: ResolvedColumns, assign_ids: bool = False
) -> None:
    """Create the batch's typed rows table from its raw table (replacing any earlier one) and index it.

    For a commit of balances, the ids of the members, accounts and entries to create are drawn from their
    sequences here, in the same pass, so that each chunk is then a plain INSERT per table.
    """
    params = sqlparts.base_params(
        date_format=options.date_format, thousands=options.thousands, timezone=program.timezone
    )
    params.update(
        {
            "batch": batch_id,
            "batch_text": str(batch_id),
            "program": program.pk,
            "now": timezone.now(),
            "today": timezone.localdate(timezone.now(), timezone=timezone.get_fixed_timezone(0)),
            "cap": options.max_points,
            "chunk_rows": options.chunk_rows,
            "languages": list(LANGUAGES),
            "assign_ids": assign_ids,
        }
    )
    table, raw = rows_table(batch_id), raw_table(batch_id)
    with connection.cursor() as cursor:
        # Looked up once: pg_get_serial_sequence in the statement would cost a catalog look-up per row.
        cursor.execute(
            "SELECT pg_get_serial_sequence('members_member', 'id'), pg_get_serial_sequence('loyalty_pointaccount', "
            "'id'), pg_get_serial_sequence('loyalty_ledgerentry', 'id')"
        )
        params["member_seq"], params["account_seq"], params["entry_seq"] = cursor.fetchone()
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(f"SELECT COALESCE(max(seq), 0) FROM {raw}")
        last = cursor.fetchone()[0]
        if options.kind == ImportKind.BALANCES:
            sql = _balances_sql(program, options, columns, raw)
            cursor.execute(
                f"CREATE UNLOGGED TABLE {table} AS {sql} WITH NO DATA", {**params, "seq_from": 0, "seq_to": 0}
            )
            pieces = min(options.workers, max(1, last // 50_000))
            bounds = [last * index // pieces for index in range(pieces + 1)]
            ranges = [{**params, "seq_from": low, "seq_to": high} for low, high in itertools.pairwise(bounds)]
            _run_pieces(f"INSERT INTO {table} {sql}", ranges)
        else:
            _run_pieces(f"CREATE UNLOGGED TABLE {table} AS {_history_sql(program, options, columns, raw)}", [params])
        cursor.execute(f"CREATE INDEX ON {table} (chunk, seq)")
        if options.kind == ImportKind.HISTORY:
            _reject_below_zero(cursor, table)
        cursor.execute(f"ANALYZE {table}")


def _run_piece(sql: str, params: dict) -> None:
    with connection.cursor() as cursor:
        # JIT would compile hundreds of parsing expressions for a statement that runs once: all cost, no gain.
        # The duplicate and member look-ups hash a million rows: memory rather than temporary files.
        cursor.execute("SET jit = off; SET work_mem = '256MB'; SET enable_memoize = off")
        try:
            cursor.execute(sql, params)
        finally:
            cursor.execute("RESET jit; RESET work_mem; RESET enable_memoize")


def _run_piece_in_thread(sql: str, params: dict) -> None:
    try:
        _run_piece(sql, params)
    finally:
        connection.close()


def _run_pieces(sql: str, pieces: list[dict]) -> None:
    """Run the statement once per parameter set; several at once on their own connections (one core each)."""
    if len(pieces) == 1:
        _run_piece(sql, pieces[0])
        return
    with ThreadPoolExecutor(max_workers=len(pieces)) as pool:
        for future in [pool.submit(_run_piece_in_thread, sql, piece) for piece in pieces]:
            future.result()


def _rows_source(columns: ResolvedColumns, names: list[str], raw: str, *layers: str, where: str = "TRUE") -> str:
    """The raw rows with each layer of derived columns computed once per row.

    Each layer is a LATERAL subquery fenced with OFFSET 0: the planner neither copies its expressions into
    every place they are used (which multiplies the parsing work) nor materialises a million wide rows.
    """
    cleaned = ", ".join(f"{_field_sql(columns, name)} AS {name}" for name in names)
    joins = "".join(
        f" CROSS JOIN LATERAL (SELECT {layer} OFFSET 0) AS l{index}" for index, layer in enumerate(layers, start=1)
    )
    selected = ", ".join(["c.*", *(f"l{index}.*" for index in range(1, len(layers) + 1))])
    return (
        f"SELECT s.seq, s.line, s.decode_error, s.width, s.phone_e164, {selected} "
        f"FROM {raw} s CROSS JOIN LATERAL (SELECT {cleaned} OFFSET 0) AS c{joins} WHERE {where}"
    )


_PIECE = "s.seq > %(seq_from)s AND s.seq <= %(seq_to)s"


def _duplicates(columns: ResolvedColumns, name: str, raw: str) -> str:
    key = _field_sql(columns, name)
    return f"SELECT {key} AS {name} FROM {raw} s WHERE {key} IS NOT NULL GROUP BY 1 HAVING count(*) > 1"


def _balances_sql(program: Program, options: ImportOptions, columns: ResolvedColumns, raw: str) -> str:
    names = [field.name for field in fields_for(ImportKind.BALANCES)]
    parts = {
        name: sqlparts.date_parts(f"c.{name}", options.date_format)
        for name in ("balance_date", "expires_at", "birth_date")
    }
    policy_expiry = sqlparts.expiry_sql(program, "l3.effective_at")
    layers = (
        f"{parts['balance_date']} AS balance_parts, {parts['expires_at']} AS expires_parts, "
        f"{parts['birth_date']} AS birth_parts",
        f"{sqlparts.integer_value('c.points')} AS points_value, "
        f"{sqlparts.timestamp_value('l1.balance_parts')} AS balance_at, "
        f"{sqlparts.timestamp_value('l1.expires_parts', end_of_day=True)} AS row_expires_at, "
        f"{sqlparts.date_value('l1.birth_parts')} AS birth_value, lower(c.email) AS email_value, "
        f"{_choice_sql('c.language', LANGUAGES)} AS language_value, lower(c.status) AS status_value",
        "COALESCE(l2.balance_at, %(now)s) AS effective_at",
        f"{policy_expiry} AS policy_expires_at",
    )
    return f"""
    WITH v AS ({_rows_source(columns, names, raw, *layers, where=_PIECE)}),
    duplicated AS ({_duplicates(columns, "external_id", raw)}    ), tiers AS (
        SELECT DISTINCT ON (key) key, id FROM (
            SELECT lower(code) AS key, id, 0 AS pref FROM loyalty_tier WHERE program_id = %(program)s
            UNION ALL SELECT lower(name), id, 1 FROM loyalty_tier WHERE program_id = %(program)s
        ) k ORDER BY key, pref
    ), prior AS (
        SELECT DISTINCT ON (e.account_id) e.account_id, e.points, e.source_id
        FROM loyalty_ledgerentry e JOIN loyalty_pointaccount a ON a.id = e.account_id
        WHERE a.program_id = %(program)s AND e.source_type = 'import' AND e.kind = 'import'
          AND e.source_id <> %(batch_text)s AND e.external_reference LIKE 'opening:%%'
          AND NOT EXISTS (SELECT 1 FROM loyalty_ledgerentry r WHERE r.reverses_id = e.id)
        ORDER BY e.account_id, e.id
    ), judged AS (
        SELECT v.seq, v.line, (v.seq - 1) / %(chunk_rows)s AS chunk, v.external_id,
               v.points_value AS points, v.effective_at,
               COALESCE(v.row_expires_at, v.policy_expires_at) AS expires_at,
               v.email_value AS email, v.phone_e164 AS phone, v.first_name, v.last_name, v.birth_value AS birth_date,
               upper(v.country) AS country, v.language_value AS language, v.status_value AS status,
               tier.id AS tier_id, m.id AS member_id, m.id IS NOT NULL AS had_member, a.id AS account_id,
               a.id IS NOT NULL AS had_account,
               pr.source_id AS prior_batch, pr.points AS prior_points,
               array_remove(ARRAY[
                   CASE WHEN v.decode_error IS NOT NULL THEN 'encoding:' END,
                   CASE WHEN v.width IS NOT NULL THEN 'columns:' END,
                   CASE WHEN v.external_id IS NULL THEN 'required:external_id' END,
                   {_text_rules("external_id")},
                   CASE WHEN dup.external_id IS NOT NULL THEN 'duplicate:external_id' END,
                   CASE WHEN v.points IS NULL THEN 'required:points'
                        WHEN v.points_value IS NULL THEN 'points:points'
                        WHEN v.points_value < 0 THEN 'negative:points'
                        WHEN v.points_value > %(cap)s THEN 'cap:points' END,
                   CASE WHEN v.balance_date IS NOT NULL AND v.balance_at IS NULL THEN 'date:balance_date'
                        WHEN v.balance_at > %(now)s THEN 'future:balance_date' END,
                   CASE WHEN v.expires_at IS NOT NULL AND v.row_expires_at IS NULL THEN 'date:expires_at'
                        WHEN v.row_expires_at <= %(now)s THEN 'expired:expires_at'
                        WHEN v.row_expires_at <= v.effective_at THEN 'expiry_order:expires_at' END,
                   CASE WHEN v.row_expires_at IS NULL AND v.policy_expires_at <= %(now)s
                        THEN 'expired:balance_date' END,
                   CASE WHEN v.email IS NOT NULL AND (v.email_value !~ %(email_re)s OR length(v.email_value) > 254)
                        THEN 'email:email' END,
                   CASE WHEN v.phone IS NOT NULL AND v.phone_e164 IS NULL THEN 'phone:phone' END,
                   {_text_rules("first_name")}, {_text_rules("last_name")},
                   CASE WHEN v.birth_date IS NOT NULL AND v.birth_value IS NULL THEN 'date:birth_date'
                        WHEN v.birth_value > %(today)s OR v.birth_value < '1900-01-01'
                        THEN 'birth_range:birth_date' END,
                   CASE WHEN v.country IS NOT NULL AND v.country !~ '^[A-Za-z]{{2}}$' THEN 'country:country' END,
                   CASE WHEN v.language IS NOT NULL AND v.language_value IS NULL THEN 'language:language' END,
                   CASE WHEN v.status IS NOT NULL AND v.status_value NOT IN ('active', 'blocked')
                        THEN 'status:status' END,
                   CASE WHEN v.tier IS NOT NULL AND tier.id IS NULL THEN 'tier:tier' END,
                   CASE WHEN m.status = 'blocked' THEN 'blocked:external_id' END,
                   CASE WHEN a.available < 0 THEN 'debt:external_id' END,
                   CASE WHEN pr.points IS NOT NULL AND pr.points IS DISTINCT FROM v.points_value
                        THEN 'conflict:points' END
               ], NULL) AS errors
        FROM v
        LEFT JOIN duplicated dup ON dup.external_id = v.external_id
        LEFT JOIN tiers tier ON tier.key = lower(v.tier)
        LEFT JOIN members_member m ON m.external_id = v.external_id
        LEFT JOIN loyalty_pointaccount a ON a.member_id = m.id AND a.program_id = %(program)s
        LEFT JOIN prior pr ON pr.account_id = a.id
    )
    SELECT verdict.*,
           CASE WHEN %(assign_ids)s AND ok AND NOT had_member
                THEN nextval(%(member_seq)s::regclass) END AS new_member_id,
           CASE WHEN %(assign_ids)s AND ok AND NOT had_account
                THEN nextval(%(account_seq)s::regclass) END AS new_account_id,
           CASE WHEN %(assign_ids)s AND ok AND points > 0
                THEN nextval(%(entry_seq)s::regclass) END AS new_entry_id
    FROM (
        SELECT judged.*,
               CASE WHEN cardinality(errors) = 0 AND prior_points = points THEN prior_batch END AS skip,
               cardinality(errors) = 0 AND (prior_points IS NULL OR prior_points <> points) AS ok
        FROM judged
    ) verdict
    """


def _history_sql(program: Program, options: ImportOptions, columns: ResolvedColumns, raw: str) -> str:
    names = [field.name for field in fields_for(ImportKind.HISTORY)]
    parts = {name: sqlparts.date_parts(f"c.{name}", options.date_format) for name in ("date", "expires_at")}
    policy_expiry = sqlparts.expiry_sql(program, "l2.effective_at")
    layers = (
        f"{parts['date']} AS date_parts, {parts['expires_at']} AS expires_parts",
        f"{sqlparts.integer_value('c.points')} AS signed_points, "
        f"{sqlparts.decimal_value('c.amount')} AS amount_value, "
        f"{sqlparts.timestamp_value('l1.date_parts')} AS effective_at, "
        f"{sqlparts.timestamp_value('l1.expires_parts', end_of_day=True)} AS row_expires_at, "
        f"{_choice_sql('c.kind', KINDS)} AS kind_value",
        f"{policy_expiry} AS policy_expires_at",
    )
    return f"""
    WITH v AS ({_rows_source(columns, names, raw, *layers)}),
    duplicated AS ({_duplicates(columns, "reference", raw)}    ), prior AS (
        SELECT DISTINCT ON (e.external_reference) e.external_reference, e.account_id, e.points, e.source_id
        FROM loyalty_ledgerentry e JOIN loyalty_pointaccount a ON a.id = e.account_id
        WHERE a.program_id = %(program)s AND e.source_type = 'import' AND e.source_id <> %(batch_text)s
          AND e.external_reference LIKE 'history:%%'
          AND NOT EXISTS (SELECT 1 FROM loyalty_ledgerentry r WHERE r.reverses_id = e.id)
        ORDER BY e.external_reference, e.id
    ), judged AS (
        SELECT v.seq, v.line, v.external_id,
               CASE v.kind_value WHEN 'spend' THEN -abs(v.signed_points) WHEN 'earn' THEN abs(v.signed_points)
                    ELSE v.signed_points END AS points,
               v.effective_at, COALESCE(v.row_expires_at, v.policy_expires_at) AS expires_at,
               v.reference, v.amount_value AS amount, v.description,
               m.id AS member_id, m.id IS NOT NULL AS had_member, a.id AS account_id,
               a.id IS NOT NULL AS had_account, false AS preset, COALESCE(a.available, 0) AS available_before,
               pr.source_id AS prior_batch, pr.points AS prior_points, pr.account_id AS prior_account,
               array_remove(ARRAY[
                   CASE WHEN v.decode_error IS NOT NULL THEN 'encoding:' END,
                   CASE WHEN v.width IS NOT NULL THEN 'columns:' END,
                   CASE WHEN v.external_id IS NULL THEN 'required:external_id' END,
                   {_text_rules("external_id")},
                   CASE WHEN v.reference IS NULL THEN 'required:reference'
                        WHEN length(v.reference) > {REFERENCE_MAX} THEN 'too_long:reference'
                        WHEN v.reference ~ %(control_chars)s THEN 'control:reference'
                        WHEN dup.reference IS NOT NULL THEN 'duplicate:reference' END,
                   CASE WHEN v.points IS NULL THEN 'required:points'
                        WHEN v.signed_points IS NULL THEN 'points:points'
                        WHEN v.signed_points = 0 THEN 'zero:points'
                        WHEN abs(v.signed_points) > %(cap)s THEN 'cap:points' END,
                   CASE WHEN v.kind IS NOT NULL AND v.kind_value IS NULL THEN 'kind:kind'
                        WHEN v.kind_value = 'earn' AND v.signed_points < 0 THEN 'sign:kind'
                        WHEN v.kind_value = 'spend' AND left(v.points, 1) = '+' THEN 'sign:kind' END,
                   CASE WHEN v.date IS NULL THEN 'required:date'
                        WHEN v.effective_at IS NULL THEN 'date:date'
                        WHEN v.effective_at > %(now)s THEN 'future:date' END,
                   CASE WHEN v.expires_at IS NOT NULL AND v.row_expires_at IS NULL THEN 'date:expires_at'
                        WHEN v.row_expires_at <= v.effective_at THEN 'expiry_order:expires_at' END,
                   CASE WHEN v.amount IS NOT NULL AND (v.amount_value IS NULL OR v.amount_value < 0)
                        THEN 'amount:amount' END,
                   {_text_rules("description")},
                   CASE WHEN m.status = 'blocked' THEN 'blocked:external_id' END,
                   CASE WHEN a.available < 0 THEN 'debt:external_id' END,
                   CASE WHEN pr.points IS NOT NULL AND (pr.account_id IS DISTINCT FROM a.id
                             OR pr.points <> CASE v.kind_value WHEN 'spend' THEN -abs(v.signed_points)
                                                 WHEN 'earn' THEN abs(v.signed_points) ELSE v.signed_points END)
                        THEN 'conflict:reference' END
               ], NULL) AS errors
        FROM v
        LEFT JOIN duplicated dup ON dup.reference = v.reference
        LEFT JOIN members_member m ON m.external_id = v.external_id
        LEFT JOIN loyalty_pointaccount a ON a.member_id = m.id AND a.program_id = %(program)s
        LEFT JOIN prior pr ON pr.external_reference = 'history:' || v.reference
    )
    SELECT judged.*,
           (dense_rank() OVER (ORDER BY external_id) - 1) / GREATEST(%(chunk_rows)s / 20, 1) AS chunk,
           CASE WHEN cardinality(errors) = 0 AND prior_points IS NOT NULL THEN prior_batch END AS skip,
           cardinality(errors) = 0 AND prior_points IS NULL AS ok
    FROM judged
    """


def _reject_below_zero(cursor, table: str) -> None:
    """A member whose valid rows would take the account below zero has all their rows rejected."""
    cursor.execute(
        f"""
        UPDATE {table} r SET errors = r.errors || ARRAY['below_zero:points'], ok = false
        FROM (SELECT external_id FROM {table} WHERE ok
              GROUP BY external_id HAVING min(available_before) + sum(points) < 0) neg
        WHERE r.external_id = neg.external_id
        """
    )


def write_errors(*, batch_id: int, options: ImportOptions, columns: ResolvedColumns, encoding: str) -> int:
    """Replace the batch's row errors with one row per reason (and per skipped row); return rejected rows."""
    texts = messages(options)
    texts["encoding"] = texts["encoding"].format(encoding=encoding)
    headers = {field: columns.headers[index] for field, index in columns.positions.items()}
    value_cases = " ".join(f"WHEN '{field}' THEN s.f_{field}" for field in columns.positions)
    value_sql = (
        f"CASE e.code WHEN 'encoding' THEN s.decode_error WHEN 'columns' THEN s.width "
        f"ELSE CASE e.field {value_cases} END END"
    )
    if not columns.positions:
        value_sql = "NULL"
    params: dict = {"batch": batch_id}
    message_values = []
    for index, (code, text) in enumerate(texts.items()):
        params[f"code_{index}"], params[f"text_{index}"] = code, text[:255]
        message_values.append(f"(%(code_{index})s, %(text_{index})s)")
    header_values = ["('', '')"]
    for index, (field, header) in enumerate(headers.items()):
        params[f"field_{index}"], params[f"header_{index}"] = field, header[:100]
        header_values.append(f"(%(field_{index})s, %(header_{index})s)")
    raw, rows = raw_table(batch_id), rows_table(batch_id)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM loyalty_importrowerror WHERE batch_id = %(batch)s", params)
        cursor.execute(
            f"""
            INSERT INTO loyalty_importrowerror (batch_id, line, "column", code, message, value)
            SELECT %(batch)s, e.line, COALESCE(h.header, ''), e.code, m.text,
                   left(COALESCE({value_sql}, ''), 255)
            FROM (SELECT r.seq, r.line, split_part(x.item, ':', 1) AS code, split_part(x.item, ':', 2) AS field,
                         x.position
                  FROM {rows} r CROSS JOIN LATERAL unnest(r.errors) WITH ORDINALITY AS x(item, position)
                  WHERE NOT r.ok AND r.skip IS NULL
                  UNION ALL
                  SELECT r.seq, r.line, 'already_imported', 'external_id', 0 FROM {rows} r WHERE r.skip IS NOT NULL
                 ) e
            JOIN {raw} s ON s.seq = e.seq
            JOIN (VALUES {", ".join(message_values)}) AS m(code, text) ON m.code = e.code
            LEFT JOIN (VALUES {", ".join(header_values)}) AS h(field, header) ON h.field = e.field
            ORDER BY e.seq, e.position
            """,
            params,
        )
        cursor.execute(f"SELECT count(*) FROM {rows} WHERE NOT ok AND skip IS NULL")
        return cursor.fetchone()[0]


def summarize(*, batch_id: int, kind: str, columns: ResolvedColumns) -> dict:
    """Totals of the validated batch and how much safe normalisation was applied."""
    rows, raw = rows_table(batch_id), raw_table(batch_id)
    with connection.cursor() as cursor:
        if kind == ImportKind.BALANCES:
            cursor.execute(
                f"""
                SELECT count(*), count(*) FILTER (WHERE ok), count(*) FILTER (WHERE skip IS NOT NULL),
                       COALESCE(sum(points) FILTER (WHERE ok), 0)::bigint,
                       count(*) FILTER (WHERE ok AND member_id IS NULL),
                       count(*) FILTER (WHERE ok AND member_id IS NOT NULL),
                       count(*) FILTER (WHERE ok AND NOT had_account),
                       count(*) FILTER (WHERE ok AND points > 0),
                       COALESCE(max(chunk) + 1, 0)
                FROM {rows}
                """
            )
        else:
            cursor.execute(
                f"""
                SELECT count(*), count(*) FILTER (WHERE ok), count(*) FILTER (WHERE skip IS NOT NULL),
                       COALESCE(sum(points) FILTER (WHERE ok), 0)::bigint,
                       count(DISTINCT external_id) FILTER (WHERE ok AND member_id IS NULL),
                       count(DISTINCT external_id) FILTER (WHERE ok AND member_id IS NOT NULL),
                       count(DISTINCT external_id) FILTER (WHERE ok AND NOT had_account),
                       count(*) FILTER (WHERE ok),
                       COALESCE(max(chunk) + 1, 0)
                FROM {rows}
                """
            )
        total, valid, skipped, points, new_members, existing, new_accounts, entries, chunks = cursor.fetchone()
        fields = [name for name in columns.positions if name != "phone"]
        trimmed = " OR ".join(f"f_{name} <> btrim(f_{name}, %(trim)s)" for name in fields) or "false"
        not_nfc = " OR ".join(f"f_{name} IS NOT NFC NORMALIZED" for name in fields) or "false"
        email = "f_email <> lower(f_email)" if "email" in columns.positions else "false"
        phone = (
            "phone_e164 IS NOT NULL AND phone_e164 <> btrim(f_phone, %(trim)s)"
            if "phone" in columns.positions
            else "false"
        )
        cursor.execute(
            f"SELECT count(*) FILTER (WHERE {trimmed}), count(*) FILTER (WHERE {not_nfc}), "
            f"count(*) FILTER (WHERE {email}), count(*) FILTER (WHERE {phone}) FROM {raw}",
            {"trim": sqlparts.TRIM_CHARS},
        )
        trimmed_rows, nfc_rows, email_rows, phone_rows = cursor.fetchone()
    return {
        "rows_total": total,
        "rows_valid": valid,
        "rows_skipped": skipped,
        "rows_rejected": total - valid - skipped,
        "points_total": points,
        "members_new": new_members,
        "members_existing": existing,
        "accounts_new": new_accounts,
        "entries": entries,
        "chunks": chunks,
        "normalised": {
            "trimmed": trimmed_rows,
            "nfc": nfc_rows,
            "email_lowercased": email_rows,
            "phone_e164": phone_rows,
        },
    }
