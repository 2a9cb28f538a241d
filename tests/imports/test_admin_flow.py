"""The Imports admin end to end through the test client: upload → options → dry run → commit → result → undo."""

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from loyalty.models import ImportBatch, LedgerEntry
from loyalty.selectors import reconcile
from members.models import Member

FILE = (
    "Card No;Name;Balance;Last Activity\r\n"
    "P1;Ali;1.500;15/03/2024\r\nP2;Sara;abc;15/03/2024\r\nP3;Omar;20;15/03/2024\r\n"
)


def test_upload_dry_run_commit_and_undo_through_the_admin(admin_client, program):
    upload = SimpleUploadedFile("pos export.csv", FILE.encode("cp1252"), content_type="text/csv")
    response = admin_client.post(
        reverse("admin:loyalty_importbatch_add"), {"program": program.pk, "kind": "balances", "file": upload}
    )
    batch = ImportBatch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:loyalty_importbatch_options", args=[batch.pk])

    options_page = admin_client.get(response["Location"])
    assert options_page.status_code == 200
    assert "Column not understood: Name" in options_page.content.decode()
    form = options_page.context["form"]
    data = {key: value for key, value in form.initial.items() if value is not None}
    data.update({"date_format": "dmy", "thousands": "dot", "column_1": "first_name"})
    response = admin_client.post(response["Location"], data)
    assert response.status_code == 302, response.context["form"].errors if response.context else ""
    assert response["Location"] == reverse("admin:loyalty_importbatch_progress", args=[batch.pk])
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.VALIDATED
    assert (batch.rows_valid, batch.rows_rejected) == (2, 1)
    assert Member.objects.count() == 0

    progress = admin_client.get(reverse("admin:loyalty_importbatch_progress", args=[batch.pk]))
    assert reverse("admin:loyalty_importbatch_status", args=[batch.pk]) in progress.content.decode()
    status = admin_client.get(reverse("admin:loyalty_importbatch_status", args=[batch.pk])).json()
    assert status["running"] is False
    result = admin_client.get(reverse("admin:loyalty_importbatch_change", args=[batch.pk]))
    assert result.context["can_commit"]
    assert "abc" in result.content.decode()
    csv_report = admin_client.get(reverse("admin:loyalty_importbatch_errors", args=[batch.pk]))
    assert b"".join(csv_report.streaming_content).decode().splitlines()[1].startswith("3,Balance,points,")

    admin_client.post(reverse("admin:loyalty_importbatch_step", args=[batch.pk, "commit"]))
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.COMMITTED
    assert batch.points_imported == 1520
    assert Member.objects.get(external_id="P1").first_name == "Ali"
    assert reconcile() == []

    admin_client.post(reverse("admin:loyalty_importbatch_step", args=[batch.pk, "undo"]))
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.UNDONE
    assert sum(LedgerEntry.objects.values_list("points", flat=True)) == 0
    page = admin_client.get(reverse("admin:loyalty_importbatch_change", args=[batch.pk])).content.decode()
    assert "Undone" in page
    assert reconcile() == []


def test_a_second_commit_of_a_committed_batch_is_refused_with_a_message(admin_client, program, write_file):
    from loyalty.legacy_import.services import import_batch_commit, import_batch_create

    batch = import_batch_create(program=program, file=write_file("member,points\nZ1,5\n"))
    import_batch_commit(batch=batch)
    response = admin_client.post(reverse("admin:loyalty_importbatch_step", args=[batch.pk, "commit"]), follow=True)
    assert "not possible now" in response.content.decode()
    assert LedgerEntry.objects.count() == 1


def test_a_dry_run_refused_by_the_worker_stops_the_progress_page(admin_client, program, write_file):
    from loyalty.legacy_import.services import import_batch_create

    batch = import_batch_create(program=program, file=write_file("member,points,notes\nZ1,5,x\n"))
    admin_client.post(reverse("admin:loyalty_importbatch_step", args=[batch.pk, "dry_run"]))
    status = admin_client.get(reverse("admin:loyalty_importbatch_status", args=[batch.pk])).json()
    assert status["running"] is False
    assert "notes" in status["error"]
