"""Legacy imports: a batch per uploaded file, its rejected rows, its history, and column mappings per program.

A batch moves uploaded → validated (dry run) → committing → committed → undone. While committing, the rows are
written in chunks, each in one transaction together with ``chunks_done`` and the counters, so the batch row always
says exactly how much of the file is in the ledger; an interrupted commit resumes from there. The staging tables
live outside the ORM (``loyalty.legacy_import.staging``) and are dropped when the batch is finished.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.legacy_import.storage import import_storage
from loyalty.models.program import Program


class ImportKind(models.TextChoices):
    BALANCES = "balances", _("Members and opening balances")
    HISTORY = "history", _("Historical ledger entries")


class ImportBatch(models.Model):
    class Status(models.TextChoices):
        UPLOADED = "uploaded", _("Uploaded")
        VALIDATING = "validating", _("Dry run running")
        VALIDATED = "validated", _("Dry run done")
        QUEUED = "queued", _("Queued for commit")
        COMMITTING = "committing", _("Committing")
        COMMITTED = "committed", _("Committed")
        FAILED = "failed", _("Failed")
        UNDOING = "undoing", _("Undoing")
        UNDONE = "undone", _("Undone")
        DISCARDED = "discarded", _("Discarded")

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="import_batches")
    kind = models.CharField(_("file type"), max_length=16, choices=ImportKind.choices, default=ImportKind.BALANCES)
    file = models.FileField(_("file"), upload_to="%Y/%m/", storage=import_storage, max_length=255)
    file_name = models.CharField(_("file name"), max_length=255)
    file_size = models.BigIntegerField(_("file size"), default=0)
    checksum = models.CharField(_("SHA-256"), max_length=64, db_index=True)
    options = models.JSONField(_("options"), default=dict, blank=True)
    detected = models.JSONField(_("detected"), default=dict, blank=True, help_text=_("What sniffing found."))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.UPLOADED)
    phase = models.CharField(_("phase"), max_length=32, blank=True, default="")
    progress_done = models.BigIntegerField(default=0)
    progress_total = models.BigIntegerField(default=0)
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    rows_total = models.BigIntegerField(_("rows"), default=0)
    rows_valid = models.BigIntegerField(_("valid rows"), default=0)
    rows_rejected = models.BigIntegerField(_("rejected rows"), default=0)
    rows_skipped = models.BigIntegerField(_("already imported"), default=0)
    points_total = models.BigIntegerField(_("points to import"), default=0)
    members_created = models.BigIntegerField(_("members created"), default=0)
    members_updated = models.BigIntegerField(_("members updated"), default=0)
    accounts_created = models.BigIntegerField(_("accounts opened"), default=0)
    entries_created = models.BigIntegerField(_("entries written"), default=0)
    points_imported = models.BigIntegerField(_("points imported"), default=0)
    entries_reversed = models.BigIntegerField(_("entries reversed"), default=0)
    points_reversed = models.BigIntegerField(_("points reversed"), default=0)
    members_removed = models.BigIntegerField(_("members removed"), default=0)
    report = models.JSONField(_("report"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True, default="")
    task_id = models.CharField(max_length=64, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("uploaded at"), default=timezone.now)
    validated_at = models.DateTimeField(_("dry run at"), null=True, blank=True)
    commit_started_at = models.DateTimeField(_("commit started"), null=True, blank=True)
    committed_at = models.DateTimeField(_("committed at"), null=True, blank=True)
    committed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    undone_at = models.DateTimeField(_("undone at"), null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    timings = models.JSONField(_("timings (seconds)"), default=dict, blank=True)

    class Meta:
        verbose_name = _("import batch")
        verbose_name_plural = _("import batches")
        ordering = ["-id"]
        indexes = [models.Index(fields=["program", "status"], name="loyalty_import_prog_status_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(chunks_done__lte=models.F("chunks_total")),
                name="%(app_label)s_%(class)s_chunks_within_total",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.file_name}"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.COMMITTED, self.Status.UNDONE, self.Status.DISCARDED)


class ImportRowError(models.Model):
    """One reason a row was rejected (or skipped as already imported); a row can have several."""

    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="row_errors")
    line = models.PositiveIntegerField(_("line"))
    column = models.CharField(_("column"), max_length=100, blank=True, default="")
    code = models.CharField(_("code"), max_length=40)
    message = models.CharField(_("reason"), max_length=255)
    value = models.CharField(_("value"), max_length=255, blank=True, default="")

    class Meta:
        verbose_name = _("rejected row")
        verbose_name_plural = _("rejected rows")
        ordering = ["batch", "line", "id"]
        indexes = [models.Index(fields=["batch", "line"], name="loyalty_importerror_line_idx")]

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class ImportBatchEvent(models.Model):
    """What happened to a batch and who did it: the batch history shown in the admin."""

    class Action(models.TextChoices):
        UPLOADED = "uploaded", _("Uploaded")
        DRY_RUN = "dry_run", _("Dry run")
        COMMIT_STARTED = "commit_started", _("Commit started")
        COMMIT_RESUMED = "commit_resumed", _("Commit resumed")
        COMMITTED = "committed", _("Committed")
        FAILED = "failed", _("Failed")
        UNDONE = "undone", _("Undone")
        DISCARDED = "discarded", _("Discarded")

    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(_("action"), max_length=16, choices=Action.choices)
    at = models.DateTimeField(_("at"), default=timezone.now)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True)
    summary = models.JSONField(_("summary"), default=dict, blank=True)

    class Meta:
        verbose_name = _("import batch event")
        verbose_name_plural = _("import batch events")
        ordering = ["batch", "at", "id"]

    def __str__(self) -> str:
        return f"{self.batch_id} {self.action}"


class ColumnMapping(models.Model):
    """How a program's legacy files name their columns, remembered from the last import of that kind."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="column_mappings")
    kind = models.CharField(_("file type"), max_length=16, choices=ImportKind.choices, default=ImportKind.BALANCES)
    mapping = models.JSONField(_("mapping"), default=dict, help_text=_("File header → field."))
    options = models.JSONField(_("options"), default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("column mapping")
        verbose_name_plural = _("column mappings")
        constraints = [
            models.UniqueConstraint(fields=["program", "kind"], name="%(app_label)s_%(class)s_program_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.program} ({self.kind})"


class ImportedMember(models.Model):
    """A member the batch created, so that undo knows whom it may remove."""

    # No database constraints: a commit writes one of these per new member, and the foreign-key checks would
    # cost as much as the row; the batch is never deleted (PROTECT elsewhere) and undo may delete a member it
    # created that never got a ledger entry.
    batch = models.ForeignKey(
        ImportBatch, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="created_members"
    )
    member = models.ForeignKey(
        "members.Member", on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )

    class Meta:
        verbose_name = _("member created by an import")
        verbose_name_plural = _("members created by imports")
        constraints = [
            models.UniqueConstraint(fields=["batch", "member"], name="%(app_label)s_%(class)s_batch_member"),
        ]

    def __str__(self) -> str:
        return f"{self.batch_id}: {self.member_id}"
