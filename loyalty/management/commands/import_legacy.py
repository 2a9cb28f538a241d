"""``manage.py import_legacy FILE --program CODE``: the admin's import flow on the command line."""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from config.errors import DomainError
from loyalty.legacy_import.options import DATE_FORMATS, MEMBER_MODES, THOUSANDS
from loyalty.legacy_import.report import error_rows_csv, summary_lines
from loyalty.legacy_import.services import (
    file_checksum,
    import_batch_commit,
    import_batch_create,
    import_batch_dry_run,
    import_batch_undo,
    unfinished_batch,
)
from loyalty.models import ImportBatch, ImportKind, Program

_PHASE_UNITS = {"reading": ("B", True), "validating": ("rows", False), "writing": ("chunks", False)}


class _Bars:
    """One tqdm bar per phase, fed by the services' progress callback."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar = None
        self.phase = None

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if phase != self.phase:
            self.close()
            unit, scale = _PHASE_UNITS.get(phase, ("", False))
            self.bar = tqdm(total=total, desc=phase, unit=unit, unit_scale=scale, leave=True)
            self.phase = phase
        self.bar.total = total
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class Command(BaseCommand):
    help = "Import members and opening balances (or ledger history) from a legacy CSV file."

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", help="The CSV file.")
        parser.add_argument("--program", help="Code of the program to import into.")
        parser.add_argument("--kind", choices=ImportKind.values, default=ImportKind.BALANCES)
        parser.add_argument("--dry-run", action="store_true", help="Validate and report; write nothing.")
        parser.add_argument("--encoding", default="", help="Override the detected encoding (e.g. cp1256).")
        parser.add_argument("--delimiter", default="", help="Override the detected delimiter (',', ';', '\\t', '|').")
        parser.add_argument("--date-format", choices=list(DATE_FORMATS), default=None)
        parser.add_argument("--thousands", choices=list(THOUSANDS), default=None)
        parser.add_argument("--members", choices=MEMBER_MODES, default=None, help="Match or update existing members.")
        parser.add_argument("--max-points", type=int, default=None, help="Reject rows above this many points.")
        parser.add_argument("--default-region", default=None, help="Country for phone numbers without a code.")
        parser.add_argument("--map", action="append", default=[], metavar="HEADER=FIELD",
                            help="Map a column to a field (or to 'ignore'); repeatable.")  # fmt: skip
        parser.add_argument("--chunk-rows", type=int, default=None)
        parser.add_argument("--workers", type=int, default=None, help="Connections writing chunks side by side.")
        parser.add_argument("--user", default=None, help="Username recorded as the importer.")
        parser.add_argument("--errors-csv", default=None, help="Write every rejected row to this CSV file.")
        parser.add_argument("--new-batch", action="store_true", help="Do not resume an unfinished batch of this file.")
        parser.add_argument("--undo", type=int, metavar="BATCH", help="Undo a committed batch instead of importing.")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options):
        user = self._user(options["user"])
        if options["undo"]:
            return self._undo(options["undo"], user)
        if not options["file"] or not options["program"]:
            raise CommandError("FILE and --program are required.")
        path = Path(options["file"])
        program = Program.objects.filter(code=options["program"]).first()
        if program is None:
            raise CommandError(f"No program with code {options['program']}.")
        bars = _Bars(not options["no_progress"])
        try:
            batch = None
            if not options["dry_run"] and not options["new_batch"] and path.is_file():
                batch = unfinished_batch(program=program, kind=options["kind"], checksum=file_checksum(path))
                if batch is not None:
                    self.stdout.write(
                        f"Resuming batch #{batch.pk} ({batch.chunks_done} of {batch.chunks_total} chunks committed)."
                    )
            if batch is None:
                batch = import_batch_create(program=program, file=path, user=user, options=self._options(options))
                detected = batch.detected
                self.stdout.write(
                    f"Batch #{batch.pk}: encoding {detected['encoding']}, delimiter {detected['delimiter']!r}, "
                    f"columns {batch.report['columns']['mapping']}"
                )
            if options["dry_run"]:
                batch = import_batch_dry_run(batch=batch, user=user, progress=bars)
            else:
                batch = import_batch_commit(batch=batch, user=user, progress=bars)
        except DomainError as error:
            bars.close()
            raise CommandError(f"{error.code}: {error.message}") from error
        bars.close()
        self._report(batch, options["errors_csv"])

    def _options(self, options: dict) -> dict:
        mapping = {}
        for item in options["map"]:
            header, separator, field = item.rpartition("=")
            if not separator or not header:
                raise CommandError(f"--map takes HEADER=FIELD, not {item!r}.")
            mapping[header] = field
        chosen = {
            "kind": options["kind"],
            "encoding": options["encoding"],
            "delimiter": options["delimiter"],
            "date_format": options["date_format"],
            "thousands": options["thousands"],
            "member_mode": options["members"],
            "max_points": options["max_points"],
            "default_region": options["default_region"],
            "chunk_rows": options["chunk_rows"],
            "workers": options["workers"],
            "mapping": mapping,
        }
        return {key: value for key, value in chosen.items() if value not in (None, "", {})}

    def _user(self, username: str | None):
        if not username:
            return None
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username}.")
        return user

    def _undo(self, batch_id: int, user) -> None:
        batch = ImportBatch.objects.filter(pk=batch_id).first()
        if batch is None:
            raise CommandError(f"No import batch #{batch_id}.")
        try:
            batch = import_batch_undo(batch=batch, user=user)
        except DomainError as error:
            raise CommandError(f"{error.code}: {error.message}") from error
        self.stdout.write(
            f"Batch #{batch.pk} undone: {batch.entries_reversed} entries reversed "
            f"({batch.points_reversed} points), {batch.members_removed} members removed."
        )

    def _report(self, batch: ImportBatch, errors_csv: str | None) -> None:
        self.stdout.write(f"Batch #{batch.pk} {batch.get_status_display()}")
        for label, value in summary_lines(batch):
            self.stdout.write(f"  {label}: {value}")
        if batch.status == ImportBatch.Status.COMMITTED:
            self.stdout.write(
                f"  written: {batch.members_created} members created, {batch.members_updated} updated, "
                f"{batch.accounts_created} accounts opened, {batch.entries_created} entries, "
                f"{batch.points_imported} points"
            )
        for error in batch.row_errors.order_by("line", "id")[:20]:
            self.stdout.write(f"  line {error.line} [{error.column or '-'}] {error.message} {error.value!r}")
        if errors_csv:
            with open(errors_csv, "w", encoding="utf-8", newline="") as handle:
                handle.writelines(error_rows_csv(batch))
            self.stdout.write(f"Rejected rows written to {errors_csv}")
