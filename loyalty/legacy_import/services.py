"""Every write of the legacy import: create a batch, dry-run it, commit it, undo it, discard it.

The admin, ``manage.py import_legacy``, the Celery tasks and the tests call these and nothing else.

Transactions: a dry run writes only the batch, its report and scratch tables. A commit writes in chunks, each
chunk one transaction that also advances ``chunks_done`` and the counters, so after a crash or a killed worker
the batch says exactly what is in the ledger, and running the commit again finishes the remaining chunks (the
file is staged and validated again first: both are pure functions of the stored file and the options). A
session-level advisory lock keeps two processes from committing or undoing one batch at a time; a killed
process's lock dies with its connection. An undo is one transaction.
"""

import hashlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path

import psycopg
from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from config.errors import DomainError, InvalidInput
from loyalty.errors import ProgramInactive
from loyalty.legacy_import import staging, undo, validation
from loyalty.legacy_import.columns import ResolvedColumns, resolve_columns
from loyalty.legacy_import.commit import CommitContext, commit_chunk
from loyalty.legacy_import.errors import ImportBusy, ImportFileProblems, ImportNotAllowed
from loyalty.legacy_import.options import ImportOptions
from loyalty.legacy_import.reading import LegacyReader, sniff
from loyalty.models import ColumnMapping, ImportBatch, ImportBatchEvent, Program

logger = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]
_LOCK_NAMESPACE = 0x494D5054
_Status = ImportBatch.Status


# --------------------------------------------------------------------------------------------------------------
# Progress and locking


class _Reporter:
    """Publishes phase and progress on a side connection, so a poller sees them while a transaction is open."""

    def __init__(self, batch_id: int, callback: Progress | None):
        self.batch_id = batch_id
        self.callback = callback
        self._connection = None
        self._last = (None, 0.0)

    def __call__(self, phase: str, done: int, total: int) -> None:
        if self.callback is not None:
            self.callback(phase, done, total)
        now = time.monotonic()
        if phase == self._last[0] and now - self._last[1] < 0.5 and done < total:
            return
        self._last = (phase, now)
        try:
            if self._connection is None:
                self._connection = connection.get_new_connection(connection.get_connection_params())
                self._connection.autocommit = True
                self._connection.execute("SET lock_timeout = '200ms'")
            self._connection.execute(
                "UPDATE loyalty_importbatch SET phase = %s, progress_done = %s, progress_total = %s WHERE id = %s",
                (phase, done, total, self.batch_id),
            )
        except psycopg.Error:
            logger.debug("progress of import %s not published", self.batch_id, exc_info=True)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()


@contextmanager
def _exclusive(batch: ImportBatch, wait_seconds: float = 10.0):
    # A killed process's server session can outlive it by a statement; waiting a little lets a retry through.
    deadline = time.monotonic() + wait_seconds
    with connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_NAMESPACE, batch.pk])
            if cursor.fetchone()[0]:
                break
            if time.monotonic() >= deadline:
                raise ImportBusy(_("Import #%(batch)s is being worked on by another process.") % {"batch": batch.pk})
            time.sleep(0.2)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_NAMESPACE, batch.pk])


def _event(batch: ImportBatch, action: str, user: AbstractBaseUser | None, **summary) -> None:
    ImportBatchEvent.objects.create(batch=batch, action=action, user=user, summary=summary)


def _set(batch: ImportBatch, **fields) -> None:
    for name, value in fields.items():
        setattr(batch, name, value)
    batch.save(update_fields=list(fields))


# --------------------------------------------------------------------------------------------------------------
# Create


def _sha256(handle) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    while block := handle.read(1 << 20):
        digest.update(block)
        size += len(block)
    return digest.hexdigest(), size


def _saved_options(program: Program, kind: str) -> dict:
    saved = ColumnMapping.objects.filter(program=program, kind=kind).first()
    if saved is None:
        return {}
    return {**saved.options, "mapping": saved.mapping}


@transaction.atomic
def import_batch_create(
    *,
    program: Program,
    file: File | str | Path,
    user: AbstractBaseUser | None = None,
    options: dict | None = None,
    file_name: str = "",
) -> ImportBatch:
    """Store the file, detect how to read it and map its columns; the options given win over the remembered ones."""
    given = dict(options or {})
    kind = given.get("kind", "balances")
    merged = {
        **_saved_options(program, kind),
        **{key: value for key, value in given.items() if value not in ("", None)},
    }
    merged["mapping"] = {**_saved_options(program, kind).get("mapping", {}), **given.get("mapping", {})}
    choices = ImportOptions.from_dict(merged)
    if isinstance(file, str | Path):
        path = Path(file)
        if not path.is_file():
            raise InvalidInput(_("%(path)s is not a file.") % {"path": path.name}, field="file")
        file_name = file_name or path.name
        with open(path, "rb") as handle:
            checksum, size = _sha256(handle)
            handle.seek(0)
            batch = ImportBatch(program=program, kind=kind, file_name=file_name, checksum=checksum, file_size=size)
            batch.file.save(file_name, File(handle), save=False)
    else:
        file_name = file_name or Path(file.name).name
        file.seek(0)
        checksum, size = _sha256(file)
        file.seek(0)
        batch = ImportBatch(program=program, kind=kind, file_name=file_name, checksum=checksum, file_size=size)
        batch.file.save(file_name, file, save=False)
    if size == 0:
        raise InvalidInput(_("The file is empty."), field="file")
    batch.created_by = user
    batch.options = choices.as_dict()
    _detect(batch, choices)
    batch.save()
    _event(batch, ImportBatchEvent.Action.UPLOADED, user, file_name=file_name, size=size, checksum=checksum)
    return batch


def _opener(batch: ImportBatch):
    return lambda: batch.file.storage.open(batch.file.name, "rb")


def _detect(batch: ImportBatch, choices: ImportOptions) -> ResolvedColumns:
    sniffed = sniff(_opener(batch), encoding=choices.encoding, delimiter=choices.delimiter)
    batch.detected = sniffed.as_dict()
    columns = resolve_columns(choices.kind, sniffed.headers, choices.mapping)
    batch.report = {
        **batch.report,
        "columns": {"mapping": columns.as_mapping(), "unknown": columns.unknown, "problems": columns.problems},
    }
    return columns


@transaction.atomic
def import_batch_set_options(*, batch: ImportBatch, options: dict, user: AbstractBaseUser | None = None) -> ImportBatch:
    """Change how the file is read before it is committed; the mapping is remembered for the program."""
    batch = ImportBatch.objects.select_for_update().get(pk=batch.pk)
    if batch.status not in (_Status.UPLOADED, _Status.VALIDATED, _Status.FAILED) or batch.chunks_done:
        raise ImportNotAllowed(_("The options of a batch cannot change once its commit has begun."))
    choices = ImportOptions.from_dict({**batch.options, **options, "kind": batch.kind})
    batch.options = choices.as_dict()
    _detect(batch, choices)
    batch.status = _Status.UPLOADED
    batch.save(update_fields=["options", "detected", "report", "status"])
    staging.drop_tables(batch.pk)
    return batch


def _remember_mapping(batch: ImportBatch, columns: ResolvedColumns, choices: ImportOptions) -> None:
    kept = {name: getattr(choices, name) for name in ("date_format", "thousands", "member_mode", "default_region")}
    ColumnMapping.objects.update_or_create(
        program=batch.program, kind=batch.kind, defaults={"mapping": columns.as_mapping(), "options": kept}
    )


# --------------------------------------------------------------------------------------------------------------
# Stage and validate (shared by the dry run and the commit)


def _signature(batch: ImportBatch) -> str:
    return hashlib.sha256(repr((batch.checksum, sorted(batch.options.items()), batch.detected)).encode()).hexdigest()


def _prepare(batch: ImportBatch, report: _Reporter, *, for_commit: bool = False) -> dict:
    """Stage the file (unless the same staging is still there) and validate it; return the summary."""
    choices = ImportOptions.from_dict(batch.options)
    detected = batch.detected
    columns = resolve_columns(batch.kind, detected["headers"], choices.mapping)
    problems = list(columns.problems)
    if columns.unknown:
        problems.append(
            _("Columns not understood: %(columns)s. Map each to a field, or to 'ignore'.")
            % {"columns": ", ".join(columns.unknown)}
        )
    if problems:
        raise ImportFileProblems(" ".join(problems), field="mapping")
    timings = {}
    started = time.monotonic()
    signature = _signature(batch)
    staged = staging.staged_rows(batch.pk)
    if staged is None or batch.report.get("staged") != {"signature": signature, "rows": staged}:
        reader = LegacyReader(
            _opener(batch), encoding=detected["encoding"], delimiter=detected["delimiter"], newline=detected["newline"]
        )
        report("reading", 0, batch.file_size)
        staged = staging.stage_file(
            batch_id=batch.pk,
            reader=reader,
            columns=columns,
            default_region=choices.default_region,
            progress=lambda done: report("reading", done, batch.file_size),
        )
        batch.report = {**batch.report, "staged": {"signature": signature, "rows": staged},
                        "blank_rows": reader.blank_rows}  # fmt: skip
        _set(batch, report=batch.report)
        timings["read"] = round(time.monotonic() - started, 3)
    report("validating", 0, staged)
    started = time.monotonic()
    program = Program.objects.get(pk=batch.program_id)
    validation.build_rows(batch_id=batch.pk, program=program, options=choices, columns=columns, assign_ids=for_commit)
    validation.write_errors(batch_id=batch.pk, options=choices, columns=columns, encoding=detected["encoding"])
    summary = validation.summarize(batch_id=batch.pk, kind=batch.kind, columns=columns)
    timings["validate"] = round(time.monotonic() - started, 3)
    summary["timings"] = timings
    report("validating", staged, staged)
    _remember_mapping(batch, columns, choices)
    return summary


def _apply_summary(batch: ImportBatch, summary: dict) -> dict:
    return {
        "rows_total": summary["rows_total"],
        "rows_valid": summary["rows_valid"],
        "rows_rejected": summary["rows_rejected"],
        "rows_skipped": summary["rows_skipped"],
        "points_total": summary["points_total"],
        "chunks_total": summary["chunks"],
        "report": {**batch.report, "summary": summary},
    }


# --------------------------------------------------------------------------------------------------------------
# Dry run


def import_batch_dry_run(
    *, batch: ImportBatch, user: AbstractBaseUser | None = None, progress: Progress | None = None
) -> ImportBatch:
    """Validate every row and report totals and rejections; nothing is written to members or the ledger."""
    reporter = _Reporter(batch.pk, progress)
    try:
        with _exclusive(batch):
            batch = ImportBatch.objects.get(pk=batch.pk)
            if batch.status not in (_Status.UPLOADED, _Status.VALIDATED, _Status.FAILED) or batch.chunks_done:
                raise ImportNotAllowed(_("Only a batch that has not been committed can be dry-run."))
            _set(batch, status=_Status.VALIDATING, error="")
            try:
                summary = _prepare(batch, reporter)
            except Exception as error:
                _set(batch, status=_Status.FAILED, phase="failed", error=str(getattr(error, "message", error)))
                _event(batch, ImportBatchEvent.Action.FAILED, user, step="dry_run", error=batch.error)
                raise
            staging.drop_rows_table(batch.pk)
            timings = {**batch.timings, "dry_run": summary["timings"]}
            _set(batch, status=_Status.VALIDATED, validated_at=timezone.now(), timings=timings,
                 **_apply_summary(batch, summary))  # fmt: skip
            _event(batch, ImportBatchEvent.Action.DRY_RUN, user, **_counts(summary))
    finally:
        reporter.close()
    return batch


def _counts(summary: dict) -> dict:
    return {key: summary[key] for key in ("rows_total", "rows_valid", "rows_rejected", "rows_skipped", "points_total")}


# --------------------------------------------------------------------------------------------------------------
# Commit


_COUNTERS = ("members_created", "members_updated", "accounts_created", "entries_created", "points_imported")


def _commit_one(context: CommitContext, chunk: int) -> None:
    """Write one chunk and record it in the batch, in one transaction."""
    batch = context.batch
    with transaction.atomic():
        counts = commit_chunk(context, chunk)
        increments = ", ".join(f"{name} = {name} + %({name})s" for name in _COUNTERS)
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                UPDATE loyalty_importbatch
                SET chunks_done = chunks_done + 1, phase = 'writing', progress_done = chunks_done + 1,
                    progress_total = chunks_total, {increments},
                    report = jsonb_set(report, '{{committed_chunks}}',
                                       COALESCE(report -> 'committed_chunks', '[]'::jsonb) || to_jsonb(%(chunk)s::int))
                WHERE id = %(batch)s
                  AND NOT COALESCE(report -> 'committed_chunks', '[]'::jsonb) @> jsonb_build_array(%(chunk)s::int)
                """,
                {"batch": batch.pk, "chunk": chunk, **vars(counts)},
            )
            if cursor.rowcount != 1:
                raise ImportNotAllowed(_("Another process already wrote this part of the batch; stopping."))


def _commit_in_thread(context: CommitContext, chunk: int) -> None:
    try:
        _commit_one(context, chunk)
    finally:
        connection.close()


def import_batch_commit(
    *, batch: ImportBatch, user: AbstractBaseUser | None = None, progress: Progress | None = None
) -> ImportBatch:
    """Write the batch's valid rows, chunk by chunk; after an interruption, finish what is left."""
    reporter = _Reporter(batch.pk, progress)
    try:
        with _exclusive(batch):
            batch = ImportBatch.objects.select_related("program").get(pk=batch.pk)
            allowed = (_Status.UPLOADED, _Status.VALIDATED, _Status.QUEUED, _Status.COMMITTING, _Status.FAILED)
            if batch.status not in allowed:
                raise ImportNotAllowed(
                    _("Import #%(batch)s is %(status)s and cannot be committed.")
                    % {"batch": batch.pk, "status": batch.get_status_display()}
                )
            if not batch.program.active:
                raise ProgramInactive(_("Program %(code)s is not active.") % {"code": batch.program.code})
            resumed = batch.status in (_Status.COMMITTING, _Status.FAILED) and batch.chunks_done > 0
            _set(batch, status=_Status.COMMITTING, error="", committed_by=batch.committed_by or user,
                 commit_started_at=batch.commit_started_at or timezone.now())  # fmt: skip
            action = ImportBatchEvent.Action.COMMIT_RESUMED if resumed else ImportBatchEvent.Action.COMMIT_STARTED
            _event(batch, action, user, chunks_done=batch.chunks_done)
            try:
                _commit(batch, reporter)
            except Exception as error:
                _set(batch, status=_Status.FAILED, phase="failed", error=str(getattr(error, "message", error)))
                _event(batch, ImportBatchEvent.Action.FAILED, user, step="commit", error=batch.error,
                       chunks_done=batch.chunks_done)  # fmt: skip
                raise
            staging.drop_tables(batch.pk)
            _event(batch, ImportBatchEvent.Action.COMMITTED, user,
                   **{name: getattr(batch, name) for name in _COUNTERS})  # fmt: skip
    finally:
        reporter.close()
    return batch


def _commit(batch: ImportBatch, report: _Reporter) -> None:
    started = time.monotonic()
    summary = _prepare(batch, report, for_commit=True)
    if batch.chunks_done and summary["chunks"] != batch.chunks_total:
        raise ImportNotAllowed(_("The file no longer splits as it did when the commit began; it cannot resume."))
    _set(batch, **_apply_summary(batch, summary))
    context = CommitContext(
        batch=batch, program=batch.program, now=timezone.now(), member_mode=batch.options.get("member_mode", "match")
    )
    write_started = time.monotonic()
    committed = set(batch.report.get("committed_chunks", []))
    pending = [chunk for chunk in range(batch.chunks_total) if chunk not in committed]
    workers = min(ImportOptions.from_dict(batch.options).workers, len(pending))
    done = len(committed)
    report("writing", done, batch.chunks_total)
    if workers <= 1:
        for chunk in pending:
            _commit_one(context, chunk)
            done += 1
            report("writing", done, batch.chunks_total)
    else:
        # Chunks hold disjoint members and accounts, so they can be written side by side on separate
        # connections; each records itself in the batch in its own transaction, in whatever order they finish.
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"import-{batch.pk}") as pool:
            futures = [pool.submit(_commit_in_thread, context, chunk) for chunk in pending]
            try:
                for future in as_completed(futures):
                    future.result()
                    done += 1
                    report("writing", done, batch.chunks_total)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    batch.refresh_from_db()
    report("writing", batch.chunks_total, batch.chunks_total)
    timings = {
        **batch.timings,
        "commit": {
            **summary["timings"],
            "write": round(time.monotonic() - write_started, 3),
            "total": round(time.monotonic() - started, 3),
        },
    }
    _set(batch, status=_Status.COMMITTED, committed_at=timezone.now(), phase="done", timings=timings)


# --------------------------------------------------------------------------------------------------------------
# Undo and discard


def import_batch_undo(*, batch: ImportBatch, user: AbstractBaseUser | None = None) -> ImportBatch:
    """Reverse every entry the batch wrote and remove the members it created that did nothing else."""
    with _exclusive(batch):
        try:
            batch = _undo(batch, user)
        except DomainError as error:
            batch = ImportBatch.objects.get(pk=batch.pk)
            if batch.status == _Status.UNDOING:
                finished = batch.chunks_done == batch.chunks_total
                _set(
                    batch, status=_Status.COMMITTED if finished else _Status.FAILED, phase="failed", error=error.message
                )
            raise
    staging.drop_tables(batch.pk)
    return batch


@transaction.atomic
def _undo(batch: ImportBatch, user: AbstractBaseUser | None) -> ImportBatch:
    batch = ImportBatch.objects.select_for_update().get(pk=batch.pk)
    committed_some = batch.status in (_Status.COMMITTED, _Status.UNDOING) or (
        batch.status == _Status.FAILED and batch.chunks_done > 0
    )
    if not committed_some:
        raise ImportNotAllowed(_("Only a committed batch can be undone."))
    now = timezone.now()
    started = time.monotonic()
    counts = undo.undo_batch(batch=batch, user=user, now=now)
    _set(batch, status=_Status.UNDONE, undone_at=now, undone_by=user, phase="undone", error="",
         entries_reversed=counts.entries_reversed, points_reversed=counts.points_reversed,
         members_removed=counts.members_removed,
         timings={**batch.timings, "undo": round(time.monotonic() - started, 3)})  # fmt: skip
    _event(batch, ImportBatchEvent.Action.UNDONE, user, **vars(counts))
    return batch


@transaction.atomic
def import_batch_discard(*, batch: ImportBatch, user: AbstractBaseUser | None = None) -> ImportBatch:
    """Drop a batch that was never committed (its scratch tables go; the file and the report stay)."""
    batch = ImportBatch.objects.select_for_update().get(pk=batch.pk)
    if batch.chunks_done or batch.status in (_Status.COMMITTED, _Status.UNDONE, _Status.COMMITTING):
        raise ImportNotAllowed(_("A batch with committed rows is undone, not discarded."))
    _set(batch, status=_Status.DISCARDED)
    _event(batch, ImportBatchEvent.Action.DISCARDED, user)
    transaction.on_commit(lambda: staging.drop_tables(batch.pk))
    return batch


# --------------------------------------------------------------------------------------------------------------
# Finding a batch to resume


def file_checksum(path: Path) -> str:
    with open(path, "rb") as handle:
        return _sha256(handle)[0]


def unfinished_batch(*, program: Program, kind: str, checksum: str) -> ImportBatch | None:
    """The latest batch of this very file whose commit began and did not finish, if any."""
    return (
        ImportBatch.objects.filter(
            program=program,
            kind=kind,
            checksum=checksum,
            status__in=[_Status.QUEUED, _Status.COMMITTING, _Status.FAILED],
            commit_started_at__isnull=False,
        )
        .order_by("-pk")
        .first()
    )


# --------------------------------------------------------------------------------------------------------------
# Queueing the long steps for a worker


_QUEUEABLE = {
    "dry_run": ((_Status.UPLOADED, _Status.VALIDATED, _Status.FAILED), _Status.VALIDATING),
    "commit": (
        (_Status.UPLOADED, _Status.VALIDATED, _Status.FAILED, _Status.QUEUED, _Status.COMMITTING),
        _Status.QUEUED,
    ),
    "undo": ((_Status.COMMITTED, _Status.FAILED), _Status.UNDOING),
}


@transaction.atomic
def import_batch_enqueue(*, batch: ImportBatch, step: str, user: AbstractBaseUser | None = None) -> ImportBatch:
    """Mark the batch as waiting for a worker and queue the step once this transaction commits."""
    from loyalty import import_tasks

    batch = ImportBatch.objects.select_for_update().get(pk=batch.pk)
    allowed, waiting = _QUEUEABLE[step]
    if batch.status not in allowed or (step == "dry_run" and batch.chunks_done):
        raise ImportNotAllowed(
            _("Import #%(batch)s is %(status)s: that step is not possible now.")
            % {"batch": batch.pk, "status": batch.get_status_display()}
        )
    previous = batch.status
    _set(batch, status=waiting if step != "dry_run" else previous, phase="queued", progress_done=0, error="")
    task = {"dry_run": import_tasks.import_batch_dry_run, "commit": import_tasks.import_batch_commit,
            "undo": import_tasks.import_batch_undo}[step]  # fmt: skip
    user_id = getattr(user, "pk", None)
    transaction.on_commit(lambda: task.delay(batch.pk, user_id))
    return batch


@transaction.atomic
def import_batch_note_refusal(*, batch: ImportBatch, message: str) -> ImportBatch:
    """A queued step was refused before it began: say so, so the progress page stops waiting for it."""
    batch = ImportBatch.objects.select_for_update().get(pk=batch.pk)
    if batch.phase == "queued":
        _set(batch, phase="failed", error=message)
    return batch
