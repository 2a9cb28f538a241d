"""The Imports section of the admin: upload → options → dry run → commit → progress → result, and undo.

Every step is a service call (``loyalty.legacy_import.services``); the long ones are queued for a Celery worker
and the progress page polls a small JSON status view. Batches, their rejected rows and their history are
read-only records.
"""

import codecs

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from config.admin_helpers import add_domain_error
from config.errors import DomainError
from config.exports import StreamingExportMixin
from loyalty.legacy_import import services
from loyalty.legacy_import.columns import IGNORE, fields_for
from loyalty.legacy_import.options import DATE_FORMATS, MEMBER_MODES, THOUSANDS
from loyalty.legacy_import.report import error_rows_csv, summary_lines
from loyalty.models import ColumnMapping, ImportBatch, ImportKind, Program

COMMON_ENCODINGS = ["utf-8", "utf-8-sig", "cp1256", "cp1252", "iso8859-6", "iso8859-1", "cp1250", "utf-16"]
DELIMITER_CHOICES = [(",", _("comma")), (";", _("semicolon")), ("\t", _("tab")), ("|", _("vertical bar"))]
THOUSANDS_LABELS = {
    "none": _("none (1234)"),
    "comma": _("comma (1,234)"),
    "dot": _("dot (1.234)"),
    "space": _("space (1 234)"),
    "apostrophe": _("apostrophe (1'234)"),
}
MEMBER_MODE_LABELS = {"match": _("match by external id, change nothing"), "update": _("update their details")}
DATE_LABELS = {"iso": _("ISO (2024-03-15)"), "dmy": _("day first (15/03/2024)"), "mdy": _("month first (03/15/2024)")}
_Status = ImportBatch.Status


class UploadForm(forms.Form):
    program = forms.ModelChoiceField(Program.objects.filter(active=True), label=_("program"))
    kind = forms.ChoiceField(choices=ImportKind.choices, label=_("file type"))
    file = forms.FileField(label=_("CSV file"))


class OptionsForm(forms.Form):
    encoding = forms.ChoiceField(label=_("encoding"))
    delimiter = forms.ChoiceField(choices=DELIMITER_CHOICES, label=_("delimiter"))
    date_format = forms.ChoiceField(choices=[(key, DATE_LABELS[key]) for key in DATE_FORMATS], label=_("dates"))
    thousands = forms.ChoiceField(choices=[(key, THOUSANDS_LABELS[key]) for key in THOUSANDS],
                                  label=_("thousands separator"))  # fmt: skip
    member_mode = forms.ChoiceField(choices=[(key, MEMBER_MODE_LABELS[key]) for key in MEMBER_MODES],
                                    label=_("existing members"))  # fmt: skip
    max_points = forms.IntegerField(min_value=1, label=_("reject rows above (points)"))
    default_region = forms.CharField(required=False, max_length=2, label=_("phone region without country code"))

    def __init__(self, *args, batch: ImportBatch, **kwargs):
        super().__init__(*args, **kwargs)
        detected = batch.detected
        encodings = [detected.get("encoding", "utf-8"), *detected.get("encoding_alternatives", []), *COMMON_ENCODINGS]
        unique = list(dict.fromkeys(codecs.lookup(name).name for name in encodings))
        self.fields["encoding"].choices = [(name, name) for name in unique]
        choices = [("", _("— not imported? choose —")), (IGNORE, _("ignore this column"))]
        choices += [(field.name, field.label) for field in fields_for(batch.kind)]
        mapping = batch.report.get("columns", {}).get("mapping", {})
        self.header_fields = []
        for index, header in enumerate(detected.get("headers", [])):
            name = f"column_{index}"
            self.fields[name] = forms.ChoiceField(choices=choices, required=False, label=header)
            self.initial.setdefault(name, mapping.get(header, ""))
            self.header_fields.append((name, header))
        options = batch.options
        for key in ("date_format", "thousands", "member_mode", "max_points", "default_region"):
            self.initial.setdefault(key, options.get(key))
        self.initial.setdefault("encoding", codecs.lookup(detected.get("encoding", "utf-8")).name)
        self.initial.setdefault("delimiter", detected.get("delimiter", ","))

    def options(self) -> dict:
        data = self.cleaned_data
        mapping = {header: data[name] for name, header in self.header_fields if data.get(name)}
        chosen = {key: data[key] for key in ("encoding", "delimiter", "date_format", "thousands", "member_mode",
                                             "max_points", "default_region")}  # fmt: skip
        return {**chosen, "mapping": mapping}


class ImportBatchAdmin(StreamingExportMixin, admin.ModelAdmin):
    list_display = ["id", "file_name", "program", "kind", "status", "rows_total", "rows_valid", "rows_rejected",
                    "points_imported", "created_by", "created_at"]  # fmt: skip
    list_filter = ["status", "kind", "program"]
    list_select_related = ["program", "created_by"]
    search_fields = ["file_name", "checksum"]
    show_full_result_count = False
    ordering = ["-id"]

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:batch_id>/options/", view(self.options_view), name="loyalty_importbatch_options"),
            path("<int:batch_id>/step/<str:step>/", view(self.step_view), name="loyalty_importbatch_step"),
            path("<int:batch_id>/progress/", view(self.progress_view), name="loyalty_importbatch_progress"),
            path("<int:batch_id>/status.json", view(self.status_view), name="loyalty_importbatch_status"),
            path("<int:batch_id>/errors.csv", view(self.errors_csv_view), name="loyalty_importbatch_errors"),
            *super().get_urls(),
        ]

    def _batch(self, request: HttpRequest, batch_id: int, *, change: bool = False) -> ImportBatch:
        batch = get_object_or_404(ImportBatch.objects.select_related("program"), pk=batch_id)
        allowed = self.has_change_permission(request, batch) if change else self.has_view_permission(request, batch)
        if not allowed:
            raise PermissionDenied
        return batch

    def _context(self, request: HttpRequest, batch: ImportBatch | None, title: str, **extra) -> dict:
        return {**self.admin_site.each_context(request), "opts": self.opts, "title": title, "batch": batch, **extra}

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None) -> HttpResponse:
        """Upload: the file is stored and sniffed, then the operator confirms the options."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                batch = services.import_batch_create(
                    program=form.cleaned_data["program"],
                    file=form.cleaned_data["file"],
                    user=request.user,
                    options={"kind": form.cleaned_data["kind"]},
                )
            except DomainError as error:
                add_domain_error(form, error)
            else:
                return HttpResponseRedirect(reverse("admin:loyalty_importbatch_options", args=[batch.pk]))
        context = self._context(request, None, _("Import a legacy file"), form=form)
        return TemplateResponse(request, "admin/loyalty/importbatch/upload.html", context)

    def options_view(self, request: HttpRequest, batch_id: int) -> HttpResponse:
        batch = self._batch(request, batch_id, change=True)
        form = OptionsForm(request.POST or None, batch=batch)
        if request.method == "POST" and form.is_valid():
            try:
                batch = services.import_batch_set_options(batch=batch, options=form.options(), user=request.user)
                columns = batch.report.get("columns", {})
                if not columns.get("problems") and not columns.get("unknown"):
                    services.import_batch_enqueue(batch=batch, step="dry_run", user=request.user)
                    return HttpResponseRedirect(reverse("admin:loyalty_importbatch_progress", args=[batch.pk]))
                form = OptionsForm(batch=batch)
            except DomainError as error:
                add_domain_error(form, error)
        columns = batch.report.get("columns", {})
        context = self._context(
            request,
            batch,
            _("Options of import #%(batch)s") % {"batch": batch.pk},
            form=form,
            header_fields=[form[name] for name, _header in getattr(form, "header_fields", [])],
            problems=[
                *columns.get("problems", []),
                *[_("Column not understood: %(column)s") % {"column": column} for column in columns.get("unknown", [])],
            ],
            sample=batch.detected.get("sample", []),
            headers=batch.detected.get("headers", []),
        )
        return TemplateResponse(request, "admin/loyalty/importbatch/options.html", context)

    STEPS = ("dry_run", "commit", "undo", "discard")

    def step_view(self, request: HttpRequest, batch_id: int, step: str) -> HttpResponse:
        batch = self._batch(request, batch_id, change=True)
        if request.method != "POST" or step not in self.STEPS:
            return HttpResponseRedirect(reverse("admin:loyalty_importbatch_change", args=[batch.pk]))
        try:
            if step == "discard":
                services.import_batch_discard(batch=batch, user=request.user)
                self.message_user(request, _("Import #%(batch)s discarded.") % {"batch": batch.pk}, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:loyalty_importbatch_change", args=[batch.pk]))
            services.import_batch_enqueue(batch=batch, step=step, user=request.user)
        except DomainError as error:
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:loyalty_importbatch_change", args=[batch.pk]))
        return HttpResponseRedirect(reverse("admin:loyalty_importbatch_progress", args=[batch.pk]))

    def progress_view(self, request: HttpRequest, batch_id: int) -> HttpResponse:
        batch = self._batch(request, batch_id)
        context = self._context(
            request,
            batch,
            _("Import #%(batch)s in progress") % {"batch": batch.pk},
            status_url=reverse("admin:loyalty_importbatch_status", args=[batch.pk]),
            result_url=reverse("admin:loyalty_importbatch_change", args=[batch.pk]),
        )
        return TemplateResponse(request, "admin/loyalty/importbatch/progress.html", context)

    def status_view(self, request: HttpRequest, batch_id: int) -> JsonResponse:
        batch = self._batch(request, batch_id)
        running = batch.phase != "failed" and (
            batch.status in (_Status.VALIDATING, _Status.QUEUED, _Status.COMMITTING, _Status.UNDOING)
            or batch.phase == "queued"
        )
        percent = round(100 * batch.progress_done / batch.progress_total) if batch.progress_total else 0
        return JsonResponse(
            {
                "status": batch.status,
                "status_label": str(batch.get_status_display()),
                "phase": batch.phase,
                "done": batch.progress_done,
                "total": batch.progress_total,
                "percent": min(percent, 100),
                "chunks_done": batch.chunks_done,
                "chunks_total": batch.chunks_total,
                "running": running,
                "error": batch.error,
            }
        )

    def errors_csv_view(self, request: HttpRequest, batch_id: int) -> StreamingHttpResponse:
        batch = self._batch(request, batch_id)
        response = StreamingHttpResponse(error_rows_csv(batch), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="import-{batch.pk}-rejected-rows.csv"'
        return response

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        """The result page: totals, normalisation applied, rejected rows, history and the next steps."""
        batch = self._batch(request, int(object_id))
        can_change = self.has_change_permission(request, batch)
        context = self._context(
            request,
            batch,
            _("Import #%(batch)s: %(file)s") % {"batch": batch.pk, "file": batch.file_name},
            summary=summary_lines(batch),
            errors=batch.row_errors.order_by("line", "id")[:200],
            events=batch.events.select_related("user"),
            can_dry_run=can_change
            and batch.status in (_Status.UPLOADED, _Status.VALIDATED, _Status.FAILED)
            and not batch.chunks_done,
            # A batch left committing or queued by a dead worker is resumed by committing it again.
            can_commit=can_change
            and batch.status in (_Status.VALIDATED, _Status.FAILED, _Status.QUEUED, _Status.COMMITTING),
            can_undo=can_change
            and (batch.status == _Status.COMMITTED or batch.chunks_done > 0)
            and batch.status != _Status.UNDONE,
            can_discard=can_change
            and not batch.chunks_done
            and batch.status in (_Status.UPLOADED, _Status.VALIDATED, _Status.FAILED),
        )
        return TemplateResponse(request, "admin/loyalty/importbatch/result.html", context)


class ColumnMappingAdmin(admin.ModelAdmin):
    list_display = ["program", "kind", "updated_at"]
    list_filter = ["kind"]
    readonly_fields = ["updated_at"]


admin.site.register(ImportBatch, ImportBatchAdmin)
admin.site.register(ColumnMapping, ColumnMappingAdmin)
