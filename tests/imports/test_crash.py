"""A worker killed in the middle of a commit leaves whole chunks only, and a rerun finishes the same batch."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from loyalty.models import ImportBatch, LedgerEntry, PointAccount
from loyalty.selectors import reconcile
from members.models import Member

ROWS = 60_000
CHUNK = 1_000
pytestmark = pytest.mark.slow


def _database_url() -> str:
    db = connection.settings_dict
    if db["HOST"].startswith("/"):
        return f"postgres://{db['USER']}@/{db['NAME']}?host={quote(db['HOST'])}"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{db['USER']}@{db['HOST']}{port}/{db['NAME']}"


def _command(path: Path, code: str) -> list[str]:
    manage = Path(settings.BASE_DIR) / "manage.py"
    return [sys.executable, str(manage), "import_legacy", str(path), "--program", code,
            "--chunk-rows", str(CHUNK), "--no-progress"]  # fmt: skip


def _environment(tmp_path: Path) -> dict:
    return {**os.environ, "DATABASE_URL": _database_url(), "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_CONN_MAX_AGE": "0"}  # fmt: skip


def _write_file(path: Path) -> int:
    """Every tenth row is rejected (bad points); returns the points of the valid rows."""
    total = 0
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("Member ID;Points;Date\n")
        for number in range(1, ROWS + 1):
            points = number % 500 + 1
            if number % 10 == 0:
                handle.write(f"K{number:06d};{points}.5;2024-01-01\n")
            else:
                handle.write(f"K{number:06d};{points};2024-01-01\n")
                total += points
    return total


def _wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_killing_the_import_mid_commit_then_rerunning_gives_one_clean_result(tmp_path, program):
    path = tmp_path / "big.csv"
    expected_points = _write_file(path)
    environment = _environment(tmp_path)
    worker = subprocess.Popen(_command(path, program.code), env=environment, stdout=subprocess.PIPE,  # noqa: S603
                              stderr=subprocess.STDOUT)  # fmt: skip

    def some_chunks_committed() -> bool:
        batch = ImportBatch.objects.filter(program=program).first()
        return batch is not None and batch.chunks_done >= 3

    try:
        assert _wait_for(some_chunks_committed, timeout=120), worker.stdout.read().decode()
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()

    # The server may still finish a COMMIT the killed process had sent, so the batch's counters and the ledger
    # are read in one statement (one snapshot): a chunk and its counter commit together or not at all.
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT b.chunks_done, b.entries_created,
                   (SELECT COUNT(*) FROM loyalty_ledgerentry e
                    JOIN loyalty_pointaccount a ON a.id = e.account_id WHERE a.program_id = %s)
            FROM {ImportBatch._meta.db_table} b WHERE b.program_id = %s
            """,
            [program.pk, program.pk],
        )
        chunks_done, entries_created, ledger_entries = cursor.fetchone()
    batch = ImportBatch.objects.get(program=program)
    assert batch.status == ImportBatch.Status.COMMITTING
    assert 3 <= chunks_done < batch.chunks_total
    valid_per_chunk = CHUNK - CHUNK // 10
    # Only whole chunks are in the ledger, and the batch says exactly which.
    assert ledger_entries == entries_created == chunks_done * valid_per_chunk
    assert reconcile() == []

    rerun = subprocess.run(_command(path, program.code), env=environment, capture_output=True, text=True,  # noqa: S603
                           timeout=300, check=False)  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    assert f"Resuming batch #{batch.pk}" in rerun.stdout

    batch.refresh_from_db()
    valid = ROWS - ROWS // 10
    assert batch.status == ImportBatch.Status.COMMITTED
    assert ImportBatch.objects.filter(program=program).count() == 1
    assert (batch.members_created, batch.entries_created, batch.points_imported) == (valid, valid, expected_points)
    assert Member.objects.count() == valid
    assert LedgerEntry.objects.filter(account__program=program).count() == valid
    assert sum(PointAccount.objects.filter(program=program).values_list("available", flat=True)) == expected_points
    assert [event.action for event in batch.events.all()] == [
        "uploaded", "commit_started", "commit_resumed", "committed"
    ]  # fmt: skip
    assert reconcile() == []
    batch.file.delete(save=False)
