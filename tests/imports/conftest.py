"""Fixtures for the legacy import: files written byte by byte, as old systems export them."""

import pytest
from django.db import connection

from loyalty.legacy_import.services import import_batch_commit, import_batch_create, import_batch_dry_run
from loyalty.models import ImportBatch, LedgerEntry, PointAccount
from members.models import Member


@pytest.fixture(autouse=True)
def import_files(settings, tmp_path):
    """Uploaded files go to a temporary folder, as the real storage would keep them on disk."""
    settings.IMPORTS_ROOT = tmp_path / "stored"
    return tmp_path


@pytest.fixture
def write_file(tmp_path):
    def write(content: str | bytes, name: str = "legacy.csv", encoding: str = "utf-8"):
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
        return path

    return write


@pytest.fixture
def run_import(program, staff_user):
    """Create, dry-run and commit a file; return the batch."""

    def run(path, *, dry_run_only: bool = False, target=None, **options) -> ImportBatch:
        batch = import_batch_create(program=target or program, file=path, user=staff_user, options=options)
        batch = import_batch_dry_run(batch=batch, user=staff_user)
        if not dry_run_only:
            batch = import_batch_commit(batch=batch, user=staff_user)
        return batch

    return run


def errors_by_line(batch: ImportBatch) -> dict[int, set[tuple[str, str]]]:
    found: dict[int, set[tuple[str, str]]] = {}
    for error in batch.row_errors.all():
        found.setdefault(error.line, set()).add((error.code, error.column))
    return found


def ledger_totals(program) -> dict:
    """Members, entries, points and cached balances of a program: what an import may change."""
    accounts = PointAccount.objects.filter(program=program)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(sum(points), 0) FROM loyalty_ledgerentry e JOIN loyalty_pointaccount a "
            "ON a.id = e.account_id WHERE a.program_id = %s",
            [program.pk],
        )
        entry_points = cursor.fetchone()[0]
    return {
        "members": Member.objects.count(),
        "entries": LedgerEntry.objects.filter(account__program=program).count(),
        "entry_points": entry_points,
        "available": sum(accounts.values_list("available", flat=True)),
        "accounts": accounts.count(),
    }


@pytest.fixture(autouse=True)
def _real_transactions(transactional_db):
    """Imports own their transactions (a chunk each), so tests run without an enclosing one."""
