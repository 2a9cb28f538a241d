"""The commit runs as a Celery job on a real worker; the status endpoint reports it as it goes."""

import time

import pytest

from loyalty.legacy_import.services import import_batch_create, import_batch_dry_run, import_batch_enqueue
from loyalty.models import ImportBatch
from loyalty.selectors import reconcile

pytestmark = pytest.mark.celery_worker


def _wait_for(condition, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_a_queued_commit_is_written_by_a_real_worker(celery_worker_queue, program, staff_user, write_file):
    rows = "".join(f"W{number:05d},{number}\n" for number in range(1, 3_001))
    batch = import_batch_create(
        program=program, file=write_file("member,points\n" + rows), user=staff_user, options={"chunk_rows": 1_000}
    )
    import_batch_dry_run(batch=batch, user=staff_user)

    queued = import_batch_enqueue(batch=batch, step="commit", user=staff_user)

    assert queued.status == ImportBatch.Status.QUEUED
    assert _wait_for(lambda: ImportBatch.objects.get(pk=batch.pk).status == ImportBatch.Status.COMMITTED)
    batch.refresh_from_db()
    assert (batch.chunks_done, batch.entries_created, batch.points_imported) == (3, 3_000, 3_000 * 3_001 // 2)
    assert batch.committed_by == staff_user
    assert reconcile() == []
