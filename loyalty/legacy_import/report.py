"""The dry-run report as operators read it: totals, and every rejected row as streamed CSV."""

import csv
from collections.abc import Iterator

from django.utils.translation import gettext as _

from loyalty.models import ImportBatch


class _Line:
    """A file-like object whose ``write`` hands back what the csv writer produced."""

    def write(self, value: str) -> str:
        return value


def error_rows_csv(batch: ImportBatch) -> Iterator[str]:
    """Every reason a row was rejected or skipped, ordered by line, one CSV line at a time."""
    writer = csv.writer(_Line())
    yield "\ufeff" + writer.writerow([_("line"), _("column"), _("code"), _("reason"), _("value")])
    errors = batch.row_errors.order_by("line", "id").values_list("line", "column", "code", "message", "value")
    for line, column, code, message, value in errors.iterator(chunk_size=5_000):
        yield writer.writerow([line, column, code, message, _neutralise(value)])


def _neutralise(value: str) -> str:
    # A spreadsheet would run a value starting with = + - @ as a formula; the report shows it as text.
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def summary_lines(batch: ImportBatch) -> list[tuple[str, object]]:
    summary = batch.report.get("summary", {})
    normalised = summary.get("normalised", {})
    return [
        (_("rows"), batch.rows_total),
        (_("valid"), batch.rows_valid),
        (_("rejected"), batch.rows_rejected),
        (_("already imported (skipped)"), batch.rows_skipped),
        (_("points to import"), batch.points_total),
        (_("new members"), summary.get("members_new", 0)),
        (_("existing members matched"), summary.get("members_existing", 0)),
        (_("accounts to open"), summary.get("accounts_new", 0)),
        (_("values trimmed"), normalised.get("trimmed", 0)),
        (_("values put in Unicode NFC"), normalised.get("nfc", 0)),
        (_("emails lower-cased"), normalised.get("email_lowercased", 0)),
        (_("phones written as E.164"), normalised.get("phone_e164", 0)),
    ]
