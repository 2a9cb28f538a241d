"""The nightly tasks run on a real Celery worker consuming the configured broker (filesystem or Redis)."""

import datetime
import time

import pytest
from django.utils import timezone

from loyalty.models import EntryKind, LedgerEntry
from loyalty.selectors import reconcile
from loyalty.services import points_credit
from loyalty.tasks import nightly_run
from tests.factories import AccountFactory, ProgramFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.celery_worker]


def _wait_for(condition, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_nightly_run_task_activates_and_expires_on_a_real_worker(celery_worker_queue, pos):
    account = AccountFactory(program=ProgramFactory())
    soon = timezone.now() + datetime.timedelta(seconds=1)
    points_credit(account=account, points=40, source=pos, activates_at=soon)
    points_credit(account=account, points=60, source=pos, expires_at=soon)
    time.sleep(1.1)  # the task reads the clock itself; let both dates pass

    nightly_run.delay(account.program.pk)

    assert _wait_for(lambda: LedgerEntry.objects.filter(account=account, kind=EntryKind.EXPIRE).exists())
    assert _wait_for(lambda: type(account).objects.get(pk=account.pk).pending == 0)
    account.refresh_from_db()
    assert (account.available, account.pending, account.lifetime_expired) == (40, 0, 60)
    assert reconcile() == []
