import datetime
import zoneinfo

import pytest

from loyalty.models import ImportBatch, LedgerEntry, PointLot
from loyalty.selectors import reconcile
from members.models import Member
from tests.factories import TierFactory
from tests.imports.conftest import errors_by_line, ledger_totals

MESSY = (
    "\ufeffCustomer No;First Name;Surname;E-mail;Mobile;Points Balance;As Of\r\n"
    "C001;Aisha;Rahman; Aisha.Rahman@Example.COM ;+971 50 123 4567;1.234;15/03/2024\r\n"
    'C002;"Omar; Jr";Haddad;omar@example.com;;250;01/02/2024\r\n'
    "C003;Lina;Saleh;not-an-email;;10;01/01/2024\r\n"
    "C004;Sami;Nasser;;;12,5;01/01/2024\r\n"
    "C005;Huda;Karim;;;-5;01/01/2024\r\n"
    "C006;Ziad;Fares;;;100;31/02/2024\r\n"
    "C007;Maya;Aziz;;+971 12;100;01/01/2024\r\n"
    "C001;Aisha;Again;;;5;01/01/2024\r\n"
    "C008;Rami;Khalil;;;2.000.000;01/01/2024\r\n"
    ";No;Id;;;10;01/01/2024\r\n"
    "C009;Too;Many;;;10;01/01/2024;extra\r\n"
    "C010;Nour;Issa;;;0;01/01/2024\r\n"
)


def test_messy_semicolon_file_imports_valid_rows_and_reports_each_rejection(write_file, run_import, program):
    before = ledger_totals(program)
    batch = run_import(write_file(MESSY), date_format="dmy", thousands="dot", max_points=1_000_000)

    assert batch.status == ImportBatch.Status.COMMITTED
    assert errors_by_line(batch) == {
        2: {("duplicate", "Customer No")},
        4: {("email", "E-mail")},
        5: {("points", "Points Balance")},
        6: {("negative", "Points Balance")},
        7: {("date", "As Of")},
        8: {("phone", "Mobile")},
        9: {("duplicate", "Customer No")},
        10: {("cap", "Points Balance")},
        11: {("required", "Customer No")},
        12: {("columns", "")},
    }
    assert batch.rows_total == 12
    assert set(Member.objects.values_list("external_id", flat=True)) == {"C002", "C010"}
    omar = Member.objects.get(external_id="C002")
    assert omar.first_name == "Omar; Jr"
    entry = LedgerEntry.objects.get(account__member=omar)
    assert entry.points == 250
    assert entry.kind == "import"
    assert entry.effective_at == datetime.datetime(2024, 2, 1, tzinfo=zoneinfo.ZoneInfo(program.timezone))
    after = ledger_totals(program)
    assert after["entry_points"] - before["entry_points"] == batch.points_imported == 250
    assert after["available"] - before["available"] == 250
    assert reconcile() == []
    assert PointLot.objects.filter(entry=entry, remaining=250).exists()


CLEAN = (
    "Member ID,Points,Date,Email,Tier\n"
    "M1,100,2024-01-10,m1@example.com,\n"
    "M2,2500,2024-02-11,m2@example.com,gold\n"
    "M3,0,2024-03-12,,\n"
)


@pytest.fixture(autouse=True)
def tiers(program):
    return [
        TierFactory(program=program, rank=0, code="base", name="Base"),
        TierFactory(program=program, rank=1, code="gold", name="Gold"),
    ]


def test_reimport_of_the_same_file_creates_nothing_new(write_file, run_import, program):
    first = run_import(write_file(CLEAN))
    after_first = ledger_totals(program)

    again = run_import(write_file(CLEAN, name="same.csv"))

    assert ledger_totals(program) == after_first
    assert (again.members_created, again.entries_created, again.rows_skipped) == (0, 0, 2)
    assert again.rows_rejected == 0
    assert {e.code for e in again.row_errors.all()} == {"already_imported"}
    assert first.members_created == 3
    assert first.points_imported == 2600
    assert program.accounts.get(member__external_id="M2").tier.code == "gold"
    assert program.accounts.get(member__external_id="M1").tier.code == "base"
    assert reconcile() == []


def test_a_different_balance_for_an_imported_member_is_rejected_not_added(write_file, run_import, program):
    run_import(write_file(CLEAN))
    changed = run_import(write_file(CLEAN.replace("M1,100", "M1,150"), name="changed.csv"))
    assert errors_by_line(changed) == {2: {("conflict", "Points")}, 3: {("already_imported", "Member ID")}}
    assert changed.entries_created == 0


def test_undo_restores_balances_and_removes_created_members(write_file, run_import, program, staff_user):
    from loyalty.legacy_import.services import import_batch_undo
    from loyalty.services import Source, points_credit
    from tests.factories import AccountFactory, MemberFactory

    existing = AccountFactory(program=program, member=MemberFactory(external_id="M2"))
    points_credit(account=existing, points=40, source=Source.staff(staff_user))
    before = ledger_totals(program)
    batch = run_import(write_file(CLEAN))
    assert batch.members_created == 2

    undone = import_batch_undo(batch=batch, user=staff_user)

    assert undone.status == ImportBatch.Status.UNDONE
    assert undone.entries_reversed == 2
    assert undone.points_reversed == 2600
    assert undone.members_removed == 2
    after = ledger_totals(program)
    assert after["available"] == before["available"]
    assert after["entry_points"] == before["entry_points"]
    assert not Member.objects.filter(external_id__in=["M1", "M3"]).exists()
    assert Member.objects.filter(external_id="M2").exists()
    assert Member.objects.filter(external_id__startswith=f"removed-{batch.pk}-", status="blocked").count() == 1
    assert [event.action for event in undone.events.all()] == [
        "uploaded",
        "dry_run",
        "commit_started",
        "committed",
        "undone",
    ]
    assert reconcile() == []
    again = run_import(write_file(CLEAN, name="fixed.csv"))
    assert (again.rows_skipped, again.entries_created, again.members_created) == (0, 2, 2)
    assert reconcile() == []


def test_undo_after_members_spent_imported_points_goes_through_the_ledger_service(
    write_file, run_import, program, staff_user
):
    from loyalty.legacy_import.services import import_batch_undo
    from loyalty.services import Source, points_credit, points_debit

    batch = run_import(write_file(CLEAN))
    m2 = program.accounts.get(member__external_id="M2")
    points_debit(account=m2, points=500, source=Source.staff(staff_user))
    points_credit(account=m2, points=700, source=Source.staff(staff_user))

    import_batch_undo(batch=batch, user=staff_user)

    m2.refresh_from_db()
    assert m2.available == 2500 - 500 + 700 - 2500
    assert Member.objects.filter(external_id="M2").exists()
    assert reconcile() == []


def test_update_mode_changes_existing_members_and_match_mode_leaves_them(write_file, run_import, program):
    from tests.factories import MemberFactory

    MemberFactory(external_id="M1", email="old@example.com", first_name="Old")
    run_import(write_file(CLEAN))
    assert Member.objects.get(external_id="M1").email == "old@example.com"

    other = type(program).objects.create(code="second", name="Second")
    TierFactory(program=other, rank=0, code="gold")
    batch = run_import(write_file(CLEAN, name="update.csv"), target=other, member_mode="update")
    assert batch.members_updated == 1
    assert Member.objects.get(external_id="M1").email == "m1@example.com"
    assert Member.objects.get(external_id="M1").first_name == "Old"
