"""A hypothesis state machine drives credit / debit / reverse / activate / expire in any order.

After every step: cached balance = Σ entries = Σ lot remaining (``reconcile`` is empty), the account total
matches an independent running total, and under the "forbid" policy nothing is ever negative.
"""

import datetime

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from config.errors import DomainError
from loyalty.models import LedgerEntry, Program
from loyalty.selectors import reconcile
from loyalty.services import (
    Source,
    entry_reverse,
    lots_activate_due,
    lots_expire_due,
    points_credit,
    points_debit,
)
from tests.factories import AccountFactory, ProgramFactory

HOUR = datetime.timedelta(hours=1)
SOURCE = Source.partner(3)


def ledger_machine(policy: str):
    class LedgerMachine(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.savepoint = transaction.savepoint()
            program = ProgramFactory(code=f"prop-{policy}", negative_balance_policy=policy)
            self.account = AccountFactory(program=program)
            self.start = timezone.now()
            self.clock = self.start
            self.expected_total = 0
            self.entries: list[int] = []

        def teardown(self):
            transaction.savepoint_rollback(self.savepoint)

        @rule(
            points=st.integers(1, 500),
            pending_hours=st.one_of(st.none(), st.integers(1, 48)),
            expiry_hours=st.one_of(st.none(), st.integers(1, 96)),
        )
        def credit(self, points, pending_hours, expiry_hours):
            entry = points_credit(
                account=self.account,
                points=points,
                source=SOURCE,
                activates_at=self.start + pending_hours * 100 * HOUR if pending_hours else None,
                expires_at=self.start + expiry_hours * 100 * HOUR if expiry_hours else None,
            )
            self.expected_total += points
            self.entries.append(entry.pk)

        @rule(points=st.integers(1, 800))
        def debit(self, points):
            try:
                entry = points_debit(account=self.account, points=points, source=SOURCE)
            except DomainError as error:
                assert error.code == "insufficient_points"
                return
            self.expected_total -= points
            self.entries.append(entry.pk)

        @precondition(lambda self: self.entries)
        @rule(pick=st.integers(0, 10_000), part=st.one_of(st.none(), st.integers(1, 300)))
        def reverse(self, pick, part):
            entry = LedgerEntry.objects.get(pk=self.entries[pick % len(self.entries)])
            try:
                reversal = entry_reverse(entry=entry, source=SOURCE, points=part)
            except DomainError as error:
                assert error.code in {"insufficient_points", "already_reversed", "reversal_exceeds_entry"}
                return
            self.expected_total += reversal.points

        @rule(hours=st.integers(1, 3000))
        def advance_clock_and_run_nightly_jobs(self, hours):
            self.clock += hours * HOUR
            lots_activate_due(now=self.clock)
            expired = lots_expire_due(now=self.clock)
            self.expected_total -= expired.points

        @invariant()
        def ledger_reconciles(self):
            assert reconcile(account_id=self.account.pk) == []

        @invariant()
        def balances_match_the_running_total_and_policy(self):
            self.account.refresh_from_db()
            assert self.account.available + self.account.pending == self.expected_total
            assert self.account.pending >= 0
            if policy == Program.NegativeBalancePolicy.FORBID:
                assert self.account.available >= 0
            if policy == Program.NegativeBalancePolicy.WITHIN_PENDING:
                assert self.account.available + self.account.pending >= 0

    return LedgerMachine


@pytest.mark.slow
@pytest.mark.parametrize("policy", Program.NegativeBalancePolicy.values)
def test_ledger_invariants_hold_in_any_order_of_operations(db, policy):
    run_state_machine_as_test(
        ledger_machine(policy),
        settings=settings(
            max_examples=40,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
