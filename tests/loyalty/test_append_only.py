import pytest
from django.db import DatabaseError, connection, transaction

from loyalty.models import LedgerEntry, LotAllocation
from loyalty.services import points_credit, points_debit


@pytest.fixture
def debit(account, pos):
    points_credit(account=account, points=100, source=pos)
    return points_debit(account=account, points=40, source=pos)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE loyalty_ledgerentry SET points = points * 2 WHERE id = %s",
        "DELETE FROM loyalty_ledgerentry WHERE id = %s",
        "UPDATE loyalty_lotallocation SET points = 0 WHERE entry_id = %s",
        "DELETE FROM loyalty_lotallocation WHERE entry_id = %s",
    ],
)
def test_database_refuses_to_change_ledger_history(debit, statement):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, [debit.pk])

    debit.refresh_from_db()
    assert debit.points == -40
    assert LotAllocation.objects.filter(entry=debit).count() == 1


def test_orm_updates_and_deletes_of_entries_fail_too(debit):
    with pytest.raises(DatabaseError), transaction.atomic():
        LedgerEntry.objects.filter(pk=debit.pk).update(reason="tampered")
    with pytest.raises(DatabaseError), transaction.atomic():
        LedgerEntry.objects.filter(pk=debit.pk).delete()

    assert LedgerEntry.objects.get(pk=debit.pk).reason == ""
