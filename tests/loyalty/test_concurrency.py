"""Many threads on real connections against the same accounts: balances stay exact and never go negative."""

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from config.errors import DomainError
from loyalty.models import LedgerEntry, PointAccount
from loyalty.selectors import reconcile
from loyalty.services import Source, entry_reverse, points_credit, points_debit, points_transfer
from tests.factories import AccountFactory, ProgramFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _run_in_threads(count: int, work) -> list:
    start = threading.Barrier(count)

    def run(index):
        try:
            start.wait()
            return work(index)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def test_fifty_concurrent_debits_of_thirty_from_a_thousand_let_exactly_thirty_three_through():
    account = AccountFactory()
    source = Source.partner(7)
    points_credit(account=account, points=1000, source=source)

    def debit(index):
        try:
            points_debit(account=account, points=30, source=source, external_reference=f"redeem-{index}")
        except DomainError as error:
            return error.code
        return "ok"

    outcomes = _run_in_threads(50, debit)

    assert outcomes.count("ok") == 33
    assert set(outcomes) - {"ok"} == {"insufficient_points"}
    account.refresh_from_db()
    assert account.available == 10
    assert LedgerEntry.objects.filter(account=account, kind="redeem").count() == 33
    assert reconcile() == []


def test_mixed_storm_of_credits_debits_reversals_and_transfers_reconciles():
    program = ProgramFactory(allow_transfers=True)
    accounts = [AccountFactory(program=program) for _ in range(20)]
    source = Source.partner(9)
    for account in accounts:
        points_credit(account=account, points=500, source=source)

    def storm(worker):
        rng = random.Random(worker)
        failures = 0
        for step in range(40):
            account = rng.choice(accounts)
            action = rng.random()
            try:
                if action < 0.35:
                    points_credit(account=account, points=rng.randint(1, 200), source=source)
                elif action < 0.7:
                    points_debit(account=account, points=rng.randint(1, 250), source=source)
                elif action < 0.85:
                    other = rng.choice(accounts)
                    if other.pk != account.pk:
                        points_transfer(
                            from_account=account, to_account=other, points=rng.randint(1, 50), source=source
                        )
                else:
                    entry = (
                        LedgerEntry.objects.filter(account=account, kind__in=["earn", "redeem"]).order_by("?").first()
                    )
                    if entry:
                        entry_reverse(entry=entry, source=source, points=1 if step % 2 else None)
            except DomainError:
                failures += 1
        return failures

    _run_in_threads(8, storm)

    assert reconcile() == []
    assert PointAccount.objects.filter(available__lt=0).count() == 0
    assert LedgerEntry.objects.filter(kind="reverse").exists()
