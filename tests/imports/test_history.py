"""Historical ledger entries: migrated as earn and redeem entries, without running earning rules."""

from loyalty.legacy_import.services import import_batch_undo
from loyalty.models import LedgerEntry, LotAllocation, PointAccount
from loyalty.selectors import reconcile
from tests.imports.conftest import errors_by_line, ledger_totals

HISTORY = (
    "Customer No,Txn Date,Receipt No,Type,Points,Amount,Narration\n"
    "H1,2024-01-05,R-1,earn,100,50.00,Shoes\n"
    "H1,2024-02-05,R-2,spend,30,,Voucher\n"
    "H1,2024-03-05,R-3,,-20,,Coffee\n"
    "H1,2024-01-20,R-4,earn,50,,\n"
    "H2,2024-01-05,R-5,credit,10,,\n"
    "H2,2024-02-05,R-6,redeem,40,,\n"
    "H3,2024-01-05,R-7,earn,-5,,\n"
    "H3,2024-01-06,R-7,earn,5,,\n"
    "H4,2024-13-01,R-8,gift,0,abc,\n"
)


def test_history_becomes_earns_and_spends_with_lots_taken_soonest_expiring_first(write_file, run_import, program):
    before = ledger_totals(program)
    batch = run_import(write_file(HISTORY), kind="history")

    assert errors_by_line(batch) == {
        6: {("below_zero", "Points")},
        7: {("below_zero", "Points")},
        8: {("sign", "Type"), ("duplicate", "Receipt No")},
        9: {("duplicate", "Receipt No")},
        10: {("date", "Txn Date"), ("kind", "Type"), ("zero", "Points"), ("amount", "Amount")},
    }
    account = PointAccount.objects.get(member__external_id="H1", program=program)
    assert (account.available, account.lifetime_earned, account.lifetime_spent) == (100, 150, 50)
    kinds = list(LedgerEntry.objects.filter(account=account).order_by("id").values_list("kind", "points"))
    assert kinds == [("earn", 100), ("earn", 50), ("redeem", -30), ("redeem", -20)]
    shoes = LedgerEntry.objects.get(external_reference="history:R-1")
    assert str(shoes.spend_amount) == "50.00"
    assert shoes.reason == "Shoes"
    assert LotAllocation.objects.filter(entry__account=account).count() == 2
    assert ledger_totals(program)["entry_points"] - before["entry_points"] == batch.points_imported == 100
    assert reconcile() == []


def test_history_reimport_skips_and_undo_gives_everything_back(write_file, run_import, program, staff_user):
    first = run_import(write_file(HISTORY), kind="history")
    account = PointAccount.objects.get(member__external_id="H1", program=program)
    totals = ledger_totals(program)
    again = run_import(write_file(HISTORY, name="again.csv"), kind="history")
    assert again.entries_created == 0
    assert again.rows_skipped == 4
    assert ledger_totals(program) == totals

    undone = import_batch_undo(batch=first, user=staff_user)
    assert undone.members_removed == 1
    account.refresh_from_db()
    assert (account.available, account.lifetime_earned, account.lifetime_spent) == (0, 0, 0)
    assert reconcile() == []
