"""Configuration-sized data through django-import-export, and streaming exports of big changelists."""

import io

import tablib
from django.contrib.admin import helpers
from django.urls import reverse
from openpyxl import load_workbook

from loyalty.models import ImportBatch, Tier
from loyalty.resources import ProgramResource, TierResource
from members.resources import MemberResource
from tests.factories import MemberFactory


def test_tiers_import_by_program_and_code_and_a_reimport_updates(program):
    rows = tablib.Dataset(headers=["program", "code", "name", "rank", "threshold"])
    rows.append([program.code, "base", "Base", 0, "0"])
    rows.append([program.code, "silver", "Silver", 1, "1000"])
    rows.append([program.code, "gold", "Gold", 2, "5000"])
    assert not TierResource().import_data(rows, dry_run=False).has_errors()
    rows[2] = [program.code, "gold", "Gold+", 2, "6000"]
    result = TierResource().import_data(rows, dry_run=False)
    assert not result.has_errors()
    assert Tier.objects.filter(program=program).count() == 3
    assert Tier.objects.get(program=program, code="gold").name == "Gold+"


def test_a_tier_with_a_bad_value_is_reported_not_saved(program):
    rows = tablib.Dataset(headers=["program", "code", "name", "rank", "threshold"])
    rows.append([program.code, "bad", "Bad", 1, "-5"])
    result = TierResource().import_data(rows, dry_run=False)
    assert result.has_validation_errors() or result.has_errors()
    assert not Tier.objects.filter(code="bad").exists()


def test_members_and_programs_export(program):
    MemberFactory(external_id="EXP1", email="exp1@example.com")
    members = MemberResource().export()
    assert members.headers[0] == "external_id"
    assert [members[0][0], members[0][3]] == ["EXP1", "exp1@example.com"]
    assert ProgramResource().export()[0][0] == program.code


def _export(admin_client, action: str, batch_ids: list[int]):
    return admin_client.post(
        reverse("admin:loyalty_importbatch_changelist"),
        {"action": action, helpers.ACTION_CHECKBOX_NAME: batch_ids, "select_across": "0", "index": "0"},
    )


def test_changelist_streams_csv_and_xlsx(admin_client, program, write_file):
    from loyalty.legacy_import.services import import_batch_create

    batch = import_batch_create(program=program, file=write_file("member,points\n=HYPERLINK(1),5\n"))
    ImportBatch.objects.filter(pk=batch.pk).update(file_name="=cmd|calc.csv")
    response = _export(admin_client, "export_as_csv", [batch.pk])
    assert response.streaming
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert text.splitlines()[0].startswith("id,")
    assert "'=cmd|calc.csv" in text

    response = _export(admin_client, "export_as_xlsx", [batch.pk])
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    rows = list(workbook.active.iter_rows(values_only=True))
    assert rows[1][0] == str(batch.pk)
