"""SQL expressions shared by validation and commit: parsing text safely, program expiry, model defaults.

Parsing never raises inside a set-based statement: every cast is guarded by a regular expression or a CASE
branch (PostgreSQL evaluates CASE branches in order), so a bad value yields NULL and a reason, not an aborted
import. Regular expressions use ``[0-9]``, never ``\\d``, whose meaning depends on the server's locale.
"""

from django.db import connection, models

from loyalty.legacy_import.options import THOUSANDS
from loyalty.models import Program

# Spaces, no-break spaces, zero-width space and a stray byte-order mark are trimmed; anything else is kept.
TRIM_CHARS = " \t\r\n\u00a0\u202f\u200b\ufeff"
# Arabic-Indic and Persian digits become ASCII digits: the same number, unambiguously.
LOCAL_DIGITS = "٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹"
ASCII_DIGITS = "0123456789" * 2
CONTROL_CHARS = "[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"
EMAIL_RE = r"^[^@\s]+@[^@\s]+\.[^@\s]{2,}$"
_TIME = r"(?:[T ]([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?)?"
_TIME = r"([T ][0-9]{1,2}:[0-9]{2}(:[0-9]{2})?)?"
ISO_DATE_RE = rf"^[0-9]{{4}}-[0-9]{{1,2}}-[0-9]{{1,2}}{_TIME}$"
LOCAL_DATE_RE = rf"^[0-9]{{1,2}}[/.-][0-9]{{1,2}}[/.-][0-9]{{4}}{_TIME}$"
# Where year, month and day sit in a local date once split on its separators.
_LOCAL_ORDER = {"dmy": (3, 2, 1), "mdy": (3, 1, 2)}


def base_params(*, date_format: str, thousands: str, timezone: str) -> dict:
    """Parameters every parsing expression below refers to."""
    return {
        "trim_chars": TRIM_CHARS,
        "local_digits": LOCAL_DIGITS,
        "ascii_digits": ASCII_DIGITS,
        "control_chars": CONTROL_CHARS,
        "email_re": EMAIL_RE,
        "iso_date_re": ISO_DATE_RE,
        "local_date_re": LOCAL_DATE_RE if date_format in _LOCAL_ORDER else "^$.",
        "integer_re": integer_re(thousands),
        "decimal_re": decimal_re(thousands),
        "number_strip": "+-" + THOUSANDS[thousands],
        "decimal_mark": "," if thousands == "dot" else ".",
        "tz": timezone,
    }


def _separator_class(thousands: str) -> str:
    chars = THOUSANDS[thousands]
    return "[" + "".join("\\" + char if char in "\\]^-" else char for char in chars) + "]"


def integer_re(thousands: str) -> str:
    """A whole number: plain digits, or digits grouped by three with the chosen separator."""
    if thousands == "none":
        return r"^[+-]?[0-9]+$"
    return rf"^[+-]?([0-9]{{1,3}}({_separator_class(thousands)}[0-9]{{3}})+|[0-9]+)$"


def decimal_re(thousands: str) -> str:
    """A money amount: whole part as for integers, then at most two decimals after the other mark."""
    mark = "," if thousands == "dot" else "[.]"
    whole = "[0-9]+" if thousands == "none" else rf"([0-9]{{1,3}}({_separator_class(thousands)}[0-9]{{3}})+|[0-9]+)"
    return rf"^[+-]?{whole}({mark}[0-9]{{1,2}})?$"


def clean(column: str | None) -> str:
    """Trimmed, NFC-normalised text, NULL when empty.

    ASCII text is already in NFC, and most legacy values are ASCII: comparing the byte and character lengths
    spares them ``normalize``, which costs about two microseconds a value (eight fields, a million rows).
    """
    if column is None:
        return "NULL::text"
    trimmed = f"btrim({column}, %(trim_chars)s)"
    return (
        f"NULLIF(CASE WHEN octet_length({column}) = length({column}) THEN {trimmed} "
        f"ELSE normalize({trimmed}, NFC) END, '')"
    )


def digits(expression: str) -> str:
    return f"translate({expression}, %(local_digits)s, %(ascii_digits)s)"


def _sign(text: str) -> str:
    return f"CASE WHEN left({text}, 1) = '-' THEN -1 ELSE 1 END"


def integer_value(text: str) -> str:
    """The bigint of a text matching ``integer_re``, NULL otherwise or beyond 15 digits."""
    digits_only = f"translate({text}, %(number_strip)s, '')"
    return (
        f"CASE WHEN {text} ~ %(integer_re)s AND length({digits_only}) <= 15 "
        f"THEN {_sign(text)} * {digits_only}::bigint END"
    )


def decimal_value(text: str) -> str:
    """The amount of a text matching ``decimal_re``, NULL otherwise."""
    number = f"translate({text}, %(number_strip)s, '')"
    whole, fraction = f"split_part({number}, %(decimal_mark)s, 1)", f"split_part({number}, %(decimal_mark)s, 2)"
    return (
        f"CASE WHEN {text} ~ %(decimal_re)s AND length({whole}) <= 12 "
        f"THEN {_sign(text)} * ({whole} || '.' || COALESCE(NULLIF({fraction}, ''), '0'))::numeric(14, 2) END"
    )


def date_parts(text: str, date_format: str) -> str:
    """``int[]`` of year, month, day, hour, minute, second (NULL time parts) from ISO or the chosen format.

    The shape is checked with a boolean match and the parts cut with ``split_part``: PostgreSQL's regular
    expressions with capture groups cost tens of microseconds a row, which a million rows cannot afford.
    """
    day_part = f"split_part(translate({text}, 'T./', ' --'), ' ', 1)"
    time_part = f"split_part(translate({text}, 'T', ' '), ' ', 2)"
    clock = ", ".join(f"NULLIF(split_part({time_part}, ':', {index}), '')" for index in (1, 2, 3))
    year, month, day = _LOCAL_ORDER.get(date_format, (3, 2, 1))
    local = ", ".join(f"split_part({day_part}, '-', {index})" for index in (year, month, day))
    iso = ", ".join(f"split_part({day_part}, '-', {index})" for index in (1, 2, 3))
    return (
        f"CASE WHEN {text} ~ %(iso_date_re)s THEN ARRAY[{iso}, {clock}]::int[] "
        f"WHEN {text} ~ %(local_date_re)s THEN ARRAY[{local}, {clock}]::int[] END"
    )


def _real_date_case(parts: str) -> str:
    return (
        f"WHEN {parts} IS NULL OR {parts}[1] < 1000 OR {parts}[2] NOT BETWEEN 1 AND 12 THEN NULL "
        f"WHEN {parts}[3] < 1 OR {parts}[3] > extract(day FROM make_date({parts}[1], {parts}[2], 1) "
        f"+ interval '1 month - 1 day') THEN NULL "
        f"WHEN COALESCE({parts}[4], 0) > 23 OR COALESCE({parts}[5], 0) > 59 OR COALESCE({parts}[6], 0) > 59 "
        f"THEN NULL "
    )


def timestamp_value(parts: str, *, end_of_day: bool = False) -> str:
    """A real moment in the program's time zone, or NULL; a bare date means its start (or its end)."""
    moment = (
        f"make_timestamptz({parts}[1], {parts}[2], {parts}[3], COALESCE({parts}[4], 0), "
        f"COALESCE({parts}[5], 0), COALESCE({parts}[6], 0), %(tz)s)"
    )
    if end_of_day:
        moment = (
            f"CASE WHEN {parts}[4] IS NULL THEN (make_timestamp({parts}[1], {parts}[2], {parts}[3], 0, 0, 0) "
            f"+ interval '1 day') AT TIME ZONE %(tz)s ELSE {moment} END"
        )
    return f"CASE {_real_date_case(parts)} ELSE {moment} END"


def date_value(parts: str) -> str:
    """A real calendar date without a time of day, or NULL."""
    real = _real_date_case(parts)
    return f"CASE {real} WHEN {parts}[4] IS NOT NULL THEN NULL ELSE make_date({parts}[1], {parts}[2], {parts}[3]) END"


def expiry_sql(program: Program, moment: str) -> str:
    """``loyalty.policies.lot_expiry`` for the program, as SQL over the timestamptz ``moment``.

    Rolling periods are added to the local wall-clock time (as Python adds a timedelta or months to an aware
    datetime), optionally moved to the first instant of the next month; a fixed date is the end of that day in
    the year after the points were earned. Inactivity and "never" have no date.
    """
    local = f"({moment} AT TIME ZONE %(tz)s)"
    if program.expiry_policy == Program.ExpiryPolicy.ROLLING:
        unit = "days" if program.expiry_period_unit == Program.PeriodUnit.DAYS else "months"
        expires = f"({local} + make_interval({unit} => {int(program.expiry_period)}))"
        if program.expiry_round_to_period_end:
            expires = f"(date_trunc('month', {expires}) + interval '1 month')"
        return f"({expires} AT TIME ZONE %(tz)s)"
    if program.expiry_policy == Program.ExpiryPolicy.FIXED_DATE:
        month, day = int(program.expiry_fixed_month), int(program.expiry_fixed_day)
        year = f"(extract(year FROM {local})::int + 1)"
        last_day = f"extract(day FROM make_date({year}, {month}, 1) + interval '1 month - 1 day')::int"
        midnight = f"make_timestamp({year}, {month}, LEAST({day}, {last_day}), 0, 0, 0)"
        return f"(({midnight} + interval '1 day') AT TIME ZONE %(tz)s)"
    return "NULL::timestamptz"


def insert_columns(model: type[models.Model], supplied: dict[str, str], params: dict, prefix: str) -> tuple[str, str]:
    """Column list and SELECT list for a set-based INSERT into ``model``'s table.

    Every concrete column not ``supplied`` gets the model field's default as a parameter, so a column added to
    the model later is filled the way the ORM would fill it instead of breaking the import.
    """
    columns, values = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key and field.column not in supplied:
            continue
        columns.append(field.column)
        if field.column in supplied:
            values.append(supplied[field.column])
            continue
        default = field.get_default()
        if isinstance(field, models.DateTimeField) and (field.auto_now or field.auto_now_add):
            default = params["now"]
        name = f"{prefix}_{field.column}"
        params[name] = field.get_db_prep_save(default, connection)
        values.append(f"%({name})s")
    missing = set(supplied) - set(columns)
    if missing:
        raise ValueError(f"{model.__name__} has no column(s) {sorted(missing)}")
    return ", ".join(columns), ", ".join(values)
