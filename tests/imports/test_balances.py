import datetime
import zoneinfo

from loyalty.models import ImportBatch, LedgerEntry, PointLot
from loyalty.selectors import reconcile
from members.models import Member
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
