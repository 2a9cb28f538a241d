import datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from loyalty import events
from loyalty.models import EntryKind, LedgerEntry, Program, Tier, TierChange
from loyalty.selectors import reconcile
from loyalty.services import (
    entry_reverse,
    expiry_warnings_send,
    lots_activate_due,
    lots_expire_due,
    nightly_run,
    points_credit,
    points_debit,
    tier_assign,
    tier_evaluate_account,
    tiers_evaluate,
)
from loyalty.tasks import nightly_tick
from tests.factories import AccountFactory, ProgramFactory, TierFactory

DAY = datetime.timedelta(days=1)
pytestmark = pytest.mark.django_db


@pytest.fixture
def captured_events():
    received = []

    def record(event_type, account_id, data):
        received.append((event_type, account_id, data))

    events.subscribe(record)
    yield received
    events.unsubscribe(record)


def test_activation_makes_due_pending_lots_available_once(account, pos):
    now = timezone.now()
    points_credit(account=account, points=70, source=pos, activates_at=now + 2 * DAY)
    points_credit(account=account, points=30, source=pos, activates_at=now + 9 * DAY)

    first = lots_activate_due(now=now + 3 * DAY)
    again = lots_activate_due(now=now + 3 * DAY)

    assert (first.lots, first.points, first.accounts) == (1, 70, 1)
    assert (again.lots, again.points) == (0, 0)
    account.refresh_from_db()
    assert (account.available, account.pending) == (70, 30)
    assert reconcile() == []


def test_expiry_turns_lapsed_remaining_points_into_one_entry_per_account(account, pos, captured_events):
    now = timezone.now()
    points_credit(account=account, points=100, source=pos, expires_at=now + DAY)
    points_credit(account=account, points=50, source=pos, expires_at=now + 2 * DAY)
    points_credit(account=account, points=25, source=pos, expires_at=now + 60 * DAY)
    points_debit(account=account, points=40, source=pos)

    result = lots_expire_due(now=now + 3 * DAY)
    rerun = lots_expire_due(now=now + 3 * DAY)

    assert (result.accounts, result.lots, result.points) == (1, 2, 110)
    assert rerun.points == 0
    expiry = LedgerEntry.objects.get(account=account, kind=EntryKind.EXPIRE)
    assert expiry.points == -110
    assert sorted(expiry.allocations.values_list("points", flat=True)) == [-60, -50]
    account.refresh_from_db()
    assert (account.available, account.lifetime_expired) == (25, 110)
    assert [event[0] for event in captured_events if event[0] == events.POINTS_EXPIRED] == [events.POINTS_EXPIRED]
    assert reconcile() == []


def test_points_given_back_to_a_lapsed_lot_expire_on_the_next_run(account, pos):
    now = timezone.now()
    points_credit(account=account, points=100, source=pos, expires_at=now + DAY)
    redemption = points_debit(account=account, points=100, source=pos)
    assert lots_expire_due(now=now + 2 * DAY).points == 0

    entry_reverse(entry=redemption, source=pos)  # the reward was cancelled after the points lapsed

    assert lots_expire_due(now=now + 2 * DAY).points == 100
    account.refresh_from_db()
    assert account.available == 0
    assert reconcile() == []


def test_inactivity_policy_expires_everything_after_the_quiet_period(pos):
    program = ProgramFactory(
        expiry_policy=Program.ExpiryPolicy.INACTIVITY, expiry_period=180, expiry_period_unit="days"
    )
    quiet, busy = AccountFactory(program=program), AccountFactory(program=program)
    points_credit(account=quiet, points=300, source=pos)
    points_credit(account=busy, points=300, source=pos)
    now = timezone.now()
    points_debit(account=busy, points=1, source=pos)  # activity today

    assert lots_expire_due(now=now + 100 * DAY).points == 0
    result = lots_expire_due(now=now + 200 * DAY)

    assert result.points == 300 + 299
    quiet.refresh_from_db()
    assert quiet.available == 0

    points_credit(account=quiet, points=10, source=pos)
    assert lots_expire_due(now=timezone.now() + DAY).points == 0


def test_expiry_warning_is_raised_once_per_lot(account, pos, captured_events):
    now = timezone.now()
    points_credit(account=account, points=40, source=pos, expires_at=now + 10 * DAY)
    points_credit(account=account, points=60, source=pos, expires_at=now + 20 * DAY)
    points_credit(account=account, points=99, source=pos, expires_at=now + 90 * DAY)

    result = expiry_warnings_send(program=account.program, now=now)
    rerun = expiry_warnings_send(program=account.program, now=now)

    assert (result.accounts, result.points, result.lots) == (1, 100, 2)
    assert rerun.accounts == 0
    expiring = [data for kind, _, data in captured_events if kind == events.POINTS_EXPIRING]
    assert [data["points"] for data in expiring] == [100]


@pytest.fixture
def tiered_program(db):
    program = ProgramFactory(code="tiered")
    silver = TierFactory(program=program, rank=0, code="silver", threshold=0)
    gold = TierFactory(
        program=program, rank=1, code="gold", threshold=1000, earn_multiplier=Decimal("1.5"), downgrade_grace_days=30
    )
    platinum = TierFactory(program=program, rank=2, code="platinum", threshold=5000, earn_multiplier=2)
    return program, silver, gold, platinum


def test_enrolment_puts_a_member_on_the_entry_tier(tiered_program):
    program, silver, _, _ = tiered_program
    account = AccountFactory(program=program)

    assert account.tier == silver
    assert account.tier_changes.get().reason == TierChange.Reason.ENROLLED


def test_tiers_are_upgraded_by_points_earned_set_based(tiered_program, pos):
    program, silver, gold, platinum = tiered_program
    accounts = [AccountFactory(program=program) for _ in range(3)]
    points_credit(account=accounts[0], points=999, source=pos)
    points_credit(account=accounts[1], points=1200, source=pos)
    points_credit(account=accounts[2], points=6000, source=pos)
    points_debit(account=accounts[2], points=6000, source=pos)  # spending does not lower points earned

    result = tiers_evaluate(program=program)

    assert (result.upgraded, result.downgraded) == (2, 0)
    tiers = [
        account.tier for account in type(accounts[0]).objects.filter(pk__in=[a.pk for a in accounts]).order_by("pk")
    ]
    assert tiers == [silver, gold, platinum]
    assert tiers_evaluate(program=program).upgraded == 0


def test_downgrade_waits_for_the_grace_period(tiered_program, pos):
    program, silver, gold, _ = tiered_program
    account = AccountFactory(program=program)
    purchase = points_credit(account=account, points=1500, source=pos)
    tier_evaluate_account(account=account)
    entry_reverse(entry=purchase, source=pos, points=1000)  # refund drops earned points below gold

    now = timezone.now()
    first = tiers_evaluate(program=program, now=now)
    account.refresh_from_db()
    assert (first.grace_started, account.tier) == (1, gold)
    assert account.tier_grace_until == now + 30 * DAY

    tiers_evaluate(program=program, now=now + 10 * DAY)
    account.refresh_from_db()
    assert account.tier == gold

    last = tiers_evaluate(program=program, now=now + 31 * DAY)
    account.refresh_from_db()
    assert (last.downgraded, account.tier, account.tier_grace_until) == (1, silver, None)
    assert list(account.tier_changes.values_list("reason", flat=True)[:3]) == ["downgrade", "grace_started", "upgrade"]


def test_requalifying_during_grace_keeps_the_tier_and_clears_the_grace(tiered_program, pos):
    program, _, gold, _ = tiered_program
    account = AccountFactory(program=program)
    purchase = points_credit(account=account, points=1500, source=pos)
    tier_evaluate_account(account=account)
    entry_reverse(entry=purchase, source=pos, points=1000)
    tiers_evaluate(program=program)

    points_credit(account=account, points=600, source=pos)
    tiers_evaluate(program=program)

    account.refresh_from_db()
    assert (account.tier, account.tier_grace_until) == (gold, None)


def test_rolling_window_only_counts_recent_earning(pos):
    program = ProgramFactory()
    TierFactory(program=program, rank=0, threshold=0, window=Tier.Window.ROLLING_MONTHS, window_months=12)
    gold = TierFactory(program=program, rank=1, threshold=500, window=Tier.Window.ROLLING_MONTHS, window_months=12)
    old, recent = AccountFactory(program=program), AccountFactory(program=program)
    points_credit(account=old, points=900, source=pos, effective_at=timezone.now() - 400 * DAY)
    points_credit(account=recent, points=900, source=pos, effective_at=timezone.now() - 30 * DAY)

    tiers_evaluate(program=program)

    old.refresh_from_db()
    recent.refresh_from_db()
    assert old.tier != gold
    assert recent.tier == gold


def test_spend_metric_counts_money_not_points(pos):
    program = ProgramFactory()
    TierFactory(program=program, rank=0, threshold=0, metric=Tier.Metric.SPEND)
    vip = TierFactory(program=program, rank=1, threshold=Decimal("2500.00"), metric=Tier.Metric.SPEND)
    big_spender, point_rich = AccountFactory(program=program), AccountFactory(program=program)
    points_credit(account=big_spender, points=10, source=pos, spend_amount=Decimal("2600.00"))
    points_credit(account=point_rich, points=100_000, source=pos, spend_amount=Decimal("100.00"))

    tiers_evaluate(program=program)

    big_spender.refresh_from_db()
    point_rich.refresh_from_db()
    assert big_spender.tier == vip
    assert point_rich.tier != vip


def test_manual_tier_assignment_is_recorded_with_the_staff_user(tiered_program, staff_user):
    program, _, _, platinum = tiered_program
    account = AccountFactory(program=program)

    tier_assign(account=account, tier=platinum, user=staff_user, note="Status match from another airline")

    change = account.tier_changes.first()
    assert (change.to_tier, change.reason, change.changed_by) == (platinum, "manual", staff_user)


def test_nightly_run_activates_before_it_expires_and_evaluates_tiers(tiered_program, pos):
    program, _, gold, _ = tiered_program
    account = AccountFactory(program=program)
    now = timezone.now()
    points_credit(account=account, points=1200, source=pos, activates_at=now + DAY, expires_at=now + 2 * DAY)

    result = nightly_run(program=program, now=now + 3 * DAY)

    assert (result["activated"].points, result["expired"].points, result["tiers"].upgraded) == (1200, 1200, 1)
    account.refresh_from_db()
    assert (account.available, account.pending, account.tier) == (0, 0, gold)


def test_commands_run_the_jobs_and_reconcile_reports_a_tampered_balance(account, pos):
    points_credit(account=account, points=10, source=pos)
    output = StringIO()
    call_command("run_nightly", program=account.program.code, stdout=output)
    call_command("reconcile", stdout=output)
    assert "All accounts reconcile." in output.getvalue()

    type(account).objects.filter(pk=account.pk).update(available=11)
    with pytest.raises(CommandError, match="1 account"):
        call_command("reconcile", stdout=output)
    assert f"account {account.pk}: available+pending 11 != sum of entries 10" in output.getvalue()


def test_command_names_an_unknown_program(db):
    with pytest.raises(CommandError, match="--program"):
        call_command("expire_lots", program="missing", stdout=StringIO())


def test_nightly_tick_picks_programs_whose_local_hour_has_come(db):
    hour_in_dubai = timezone.now().astimezone(datetime.timezone(datetime.timedelta(hours=4))).hour
    due = ProgramFactory(timezone="Asia/Dubai", nightly_hour=hour_in_dubai)
    ProgramFactory(timezone="Asia/Dubai", nightly_hour=(hour_in_dubai + 1) % 24)

    assert nightly_tick() == [due.pk]


def _queries_to_upgrade(program, count: int, source) -> int:
    for _ in range(count):
        points_credit(account=AccountFactory(program=program), points=1200, source=source)
    with CaptureQueriesContext(connection) as context:
        assert tiers_evaluate(program=program).upgraded == count
    return len(context.captured_queries)


def test_set_based_upgrades_raise_tier_events_without_a_query_per_account(tiered_program, pos, captured_events):
    program, silver, gold, _ = tiered_program

    few, many = _queries_to_upgrade(program, 2, pos), _queries_to_upgrade(program, 6, pos)

    assert few == many
    changed = [data for kind, _, data in captured_events if kind == events.TIER_CHANGED]
    assert len(changed) == 8
    assert {key: changed[0][key] for key in ("program", "from_tier", "to_tier", "reason")} == {
        "program": program.code,
        "from_tier": silver.code,
        "to_tier": gold.code,
        "reason": "upgrade",
    }
