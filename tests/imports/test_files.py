"""Files as old systems write them: code pages, BOMs, odd delimiters, quoting, renamed and unknown columns."""

import datetime
import unicodedata
import zoneinfo

import pytest

from loyalty.legacy_import.errors import ImportFileProblems
from loyalty.legacy_import.services import import_batch_create, import_batch_dry_run
from loyalty.models import LedgerEntry, PointLot
from loyalty.policies import lot_expiry
from loyalty.selectors import reconcile
from members.models import Member
from tests.imports.conftest import errors_by_line

ARABIC = "رقم العضو;الاسم الأول;النقاط\r\nA1;محمد;1200\r\nA2;فاطمة;300\r\n"


def test_windows_1256_arabic_is_detected_and_stored_as_real_text(write_file, run_import):
    batch = run_import(write_file(ARABIC, encoding="cp1256"))
    assert batch.detected["encoding"] == "cp1256"
    assert batch.detected["delimiter"] == ";"
    assert Member.objects.get(external_id="A1").first_name == "محمد"
    assert batch.points_imported == 1500


def test_windows_1252_with_an_operator_override(write_file, run_import):
    content = "card_number\tfirst_name\tbalance\r\nW1\tCafé Müller\t5\r\n"
    batch = run_import(write_file(content, encoding="cp1252"), encoding="windows-1252")
    assert batch.detected["encoding"] == "cp1252"
    assert batch.detected["delimiter"] == "\t"
    assert Member.objects.get(external_id="W1").first_name == "Café Müller"


def test_a_line_that_is_not_valid_in_the_encoding_is_rejected_not_stored_as_mojibake(write_file, run_import):
    content = "member_id,first_name,points\nU1,Zoë,10\n".encode() + b"U2,Bad\xff\xfeName,20\nU3,Ok,30\n"
    batch = run_import(write_file(content), encoding="utf-8")
    assert errors_by_line(batch) == {3: {("encoding", "")}}
    assert "0xff" in batch.row_errors.get().value
    assert set(Member.objects.values_list("external_id", flat=True)) == {"U1", "U3"}


def test_utf8_bom_crlf_quoted_delimiters_and_newlines_keep_line_numbers(write_file, run_import):
    content = (
        '\ufeff"Member ID","Last Name","Points"\r\n'
        'Q1,"Smith, Jr",10\r\n'
        'Q2,"two\r\nlines",20\r\n'
        "Q3,Jones,ten\r\n"
        "\r\n"
        ",,\r\n"
    )
    batch = run_import(write_file(content))
    assert batch.detected["encoding"] == "utf-8-sig"
    assert errors_by_line(batch) == {5: {("points", "Points")}}
    assert Member.objects.get(external_id="Q1").last_name == "Smith, Jr"
    assert Member.objects.get(external_id="Q2").last_name == "two\r\nlines"
    assert batch.rows_total == 3


def test_utf16_with_bom_is_read(write_file, run_import):
    batch = run_import(write_file("id|points\r\nS1|7\r\n".replace("id", "member"), encoding="utf-16"))
    assert batch.detected["delimiter"] == "|"
    assert batch.points_imported == 7


def test_safe_normalisation_is_applied_and_counted(write_file, run_import):
    decomposed = unicodedata.normalize("NFD", "José")
    batch = run_import(write_file(f"member,first name,email,points\n N1 ,{decomposed},N1@Example.com,5\n"))
    member = Member.objects.get(external_id="N1")
    assert member.first_name == "José"
    assert member.email == "n1@example.com"
    assert batch.report["summary"]["normalised"] == {"trimmed": 1, "nfc": 1, "email_lowercased": 1, "phone_e164": 0}


def test_arabic_indic_digits_and_grouped_thousands_are_whole_numbers(write_file, run_import):
    content = 'member,points\nD1,١٢٣\nD2,"1,500"\nD3,"1,50"\nD4,10.0\nD5,1e3\n'
    batch = run_import(write_file(content), thousands="comma")
    assert errors_by_line(batch) == {
        4: {("points", "points")},
        5: {("points", "points")},
        6: {("points", "points")},
    }
    assert batch.points_imported == 123 + 1500


def test_unknown_and_ambiguous_columns_stop_the_dry_run_until_mapped(write_file, program, staff_user):
    path = write_file("member,points,balance,loyalty notes\nX1,1,1,hello\n")
    batch = import_batch_create(program=program, file=path, user=staff_user)
    with pytest.raises(ImportFileProblems) as problem:
        import_batch_dry_run(batch=batch)
    assert "loyalty notes" in problem.value.message
    assert "balance" in problem.value.message
    mapped = import_batch_create(
        program=program,
        file=path,
        user=staff_user,
        options={"mapping": {"balance": "ignore", "loyalty notes": "ignore"}},
    )
    assert import_batch_dry_run(batch=mapped).rows_valid == 1
    remembered = import_batch_create(program=program, file=path, user=staff_user)
    assert remembered.options["mapping"]["loyalty notes"] == "ignore"


def test_expiry_comes_from_the_row_or_the_program_policy(write_file, run_import, program):
    program.expiry_policy = "rolling"
    program.expiry_period = 12
    program.expiry_round_to_period_end = True
    program.save()
    now = datetime.datetime.now(zoneinfo.ZoneInfo(program.timezone))
    recent = (now - datetime.timedelta(days=40)).date()
    content = f"member,points,date,expiry\nE1,5,{recent.isoformat()},\nE2,6,{recent.isoformat()},2099-12-31\n"
    run_import(write_file(content))
    policy_lot = PointLot.objects.get(account__member__external_id="E1")
    entry = LedgerEntry.objects.get(account__member__external_id="E1")
    assert policy_lot.expires_at == lot_expiry(program, entry.effective_at)
    row_lot = PointLot.objects.get(account__member__external_id="E2")
    assert row_lot.expires_at == datetime.datetime(2100, 1, 1, tzinfo=zoneinfo.ZoneInfo(program.timezone))
    assert reconcile() == []


def test_points_that_would_already_have_expired_are_rejected(write_file, run_import, program):
    program.expiry_policy = "rolling"
    program.expiry_period = 30
    program.expiry_period_unit = "days"
    program.save()
    batch = run_import(write_file("member,points,date,expiry\nO1,5,2020-01-01,\nO2,5,,2021-01-01\n"))
    assert errors_by_line(batch) == {2: {("expired", "date")}, 3: {("expired", "expiry")}}


@pytest.mark.parametrize(
    "raw",
    ["+971 50 123 4567", "+971-50-123-4567", "+44 (0) 20 7946 0958", "+1 (650) 253-0000", "0501234567",
     "+971 12", "+60 12-345 6789", "+9715012345678901", "00971501234567", "+٩٧١٥٠١٢٣٤٥٦٧"],
)  # fmt: skip
def test_phone_quick_path_agrees_with_the_member_rules(raw):
    from config.errors import InvalidInput
    from loyalty.legacy_import.reading import PhoneNormalizer
    from members.normalize import normalize_phone

    try:
        expected = normalize_phone(raw, default_region="AE")
    except InvalidInput:
        expected = None
    assert PhoneNormalizer("AE")(raw) == expected
