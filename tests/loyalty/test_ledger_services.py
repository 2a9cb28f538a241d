import datetime
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from loyalty import events
from loyalty.errors import (
    AccountNotFound,
    AlreadyReversed,
    DuplicateReference,
    InsufficientPoints,
    NotPending,
    NotReversible,
    ProgramInactive,
    TransferNotAllowed,
)
from loyalty.models import EntryKind, LedgerEntry, PointAccount, PointLot, Program
from loyalty.selectors import account_for_member, program_terms, reconcile
from loyalty.services import (
    entry_reverse,
    lot_activate,
    points_adjust,
    points_credit,
    points_debit,
    points_transfer,
    program_save,
)
from members.errors import MemberBlocked, MemberNotFound
from members.services import member_block
from tests.factories import AccountFactory

DAY = datetime.timedelta(days=1)


def _balances(account: PointAccount) -> tuple[int, int]:
    account.refresh_from_db()
    return account.available, account.pending


def test_credit_is_available_at_once_and_creates_one_lot(account, pos):
    entry = points_credit(account=account, points=250, source=pos, external_reference="order-1")

    assert _balances(account) == (250, 0)
    lot = entry.lots.get()
    assert (lot.points, lot.remaining, lot.is_pending) == (250, 250, False)
    assert (entry.source_type, entry.source_id) == ("partner", "1")
    account.refresh_from_db()
    assert account.lifetime_earned == 250


def test_credit_stays_pending_for_the_program_pending_days(account, pos):
    account.program.pending_days = 14
    account.program.save()

    entry = points_credit(account=account, points=100, source=pos)

    assert _balances(account) == (0, 100)
    lot = entry.lots.get()
    assert lot.activates_at == entry.effective_at + 14 * DAY
    with pytest.raises(InsufficientPoints):
        points_debit(account=account, points=1, source=pos)


def test_credit_held_until_an_event_activates_when_the_event_comes(account, pos):
    entry = points_credit(account=account, points=80, source=pos, hold_until_event=True)
    assert entry.lots.get().activates_at is None
    assert _balances(account) == (0, 80)

    assert lot_activate(entry=entry) == 80

    assert _balances(account) == (80, 0)
    with pytest.raises(NotPending) as error:
        lot_activate(entry=entry)
    assert error.value.code == "not_pending"


def test_rolling_expiry_rounds_to_the_end_of_the_month_in_the_program_time_zone(account, pos):
    program = account.program
    program.expiry_policy = Program.ExpiryPolicy.ROLLING
    program.expiry_period = 12
    program.expiry_round_to_period_end = True
    program.save()
    earned = datetime.datetime(2026, 3, 15, 22, 30, tzinfo=datetime.UTC)  # 16 March 02:30 in Dubai

    entry = points_credit(account=account, points=10, source=pos, effective_at=earned)

    dubai = datetime.timezone(datetime.timedelta(hours=4))
    assert entry.lots.get().expires_at == datetime.datetime(2027, 4, 1, tzinfo=dubai)


def test_fixed_date_expiry_lapses_after_that_day_of_the_following_year(account, pos):
    program = account.program
    program.expiry_policy = Program.ExpiryPolicy.FIXED_DATE
    program.expiry_fixed_month, program.expiry_fixed_day = 12, 31
    program.save()

    entry = points_credit(
        account=account, points=10, source=pos, effective_at=datetime.datetime(2026, 2, 1, tzinfo=datetime.UTC)
    )

    dubai = datetime.timezone(datetime.timedelta(hours=4))
    assert entry.lots.get().expires_at == datetime.datetime(2028, 1, 1, tzinfo=dubai)


def test_debit_takes_the_soonest_expiring_lot_first(account, pos):
    now = timezone.now()
    late = points_credit(account=account, points=100, source=pos, expires_at=now + 90 * DAY)
    never = points_credit(account=account, points=100, source=pos)
    soon = points_credit(account=account, points=100, source=pos, expires_at=now + 10 * DAY)

    debit = points_debit(account=account, points=150, source=pos)

    remaining = {lot.entry_id: lot.remaining for lot in PointLot.objects.filter(account=account)}
    assert remaining == {soon.pk: 0, late.pk: 50, never.pk: 100}
    assert sorted(debit.allocations.values_list("points", flat=True)) == [-100, -50]
    assert _balances(account) == (150, 0)


def test_reversing_a_debit_restores_exactly_the_lots_it_took(account, pos):
    now = timezone.now()
    first = points_credit(account=account, points=40, source=pos, expires_at=now + 5 * DAY)
    second = points_credit(account=account, points=60, source=pos, expires_at=now + 50 * DAY)
    untouched = points_credit(account=account, points=70, source=pos)
    debit = points_debit(account=account, points=80, source=pos)

    reversal = entry_reverse(entry=debit, source=pos, reason="order cancelled")

    assert reversal.points == 80 and reversal.reverses_id == debit.pk
    remaining = {lot.entry_id: lot.remaining for lot in PointLot.objects.filter(account=account)}
    assert remaining == {first.pk: 40, second.pk: 60, untouched.pk: 70}
    account.refresh_from_db()
    assert (account.available, account.lifetime_spent) == (170, 0)
    assert reconcile() == []


def test_partial_reversal_of_a_debit_gives_back_the_latest_expiring_lot_first(account, pos):
    now = timezone.now()
    soon = points_credit(account=account, points=50, source=pos, expires_at=now + 5 * DAY)
    later = points_credit(account=account, points=50, source=pos, expires_at=now + 50 * DAY)
    debit = points_debit(account=account, points=100, source=pos)

    entry_reverse(entry=debit, source=pos, points=30)

    remaining = {lot.entry_id: lot.remaining for lot in PointLot.objects.filter(account=account)}
    assert remaining == {soon.pk: 0, later.pk: 30}
    entry_reverse(entry=debit, source=pos, points=70)
    assert _balances(account) == (100, 0)
    with pytest.raises(AlreadyReversed):
        entry_reverse(entry=debit, source=pos)


def test_partial_reversal_of_a_credit_takes_back_from_its_own_lot(account, pos):
    other = points_credit(account=account, points=100, source=pos, expires_at=timezone.now() + DAY)
    purchase = points_credit(account=account, points=100, source=pos, spend_amount=Decimal("100.00"))

    refund = entry_reverse(entry=purchase, source=pos, points=40, reason="item returned")

    assert refund.points == -40
    assert refund.spend_amount == Decimal("-40.00")
    assert purchase.lots.get().remaining == 60
    assert other.lots.get().remaining == 100
    account.refresh_from_db()
    assert (account.available, account.lifetime_earned) == (160, 160)
    assert reconcile() == []


def test_reversing_a_spent_credit_is_refused_when_negative_balances_are_forbidden(account, pos):
    purchase = points_credit(account=account, points=100, source=pos)
    points_debit(account=account, points=90, source=pos)

    with pytest.raises(InsufficientPoints):
        entry_reverse(entry=purchase, source=pos)


def test_negative_balance_is_settled_by_the_next_credit_when_allowed(program, pos):
    program.negative_balance_policy = Program.NegativeBalancePolicy.ALLOW
    program.save()
    account = AccountFactory(program=program)
    purchase = points_credit(account=account, points=100, source=pos)
    points_debit(account=account, points=100, source=pos)

    entry_reverse(entry=purchase, source=pos)  # claws back points already spent
    assert _balances(account) == (-100, 0)
    later = points_credit(account=account, points=150, source=pos)

    assert _balances(account) == (50, 0)
    assert later.lots.get().remaining == 50
    assert reconcile() == []


def test_within_pending_policy_lets_available_go_negative_only_as_far_as_pending_covers(program, pos):
    program.negative_balance_policy = Program.NegativeBalancePolicy.WITHIN_PENDING
    program.save()
    account = AccountFactory(program=program)
    points_credit(account=account, points=50, source=pos)
    held = points_credit(account=account, points=100, source=pos, hold_until_event=True)

    points_debit(account=account, points=120, source=pos)
    assert _balances(account) == (-70, 100)
    with pytest.raises(InsufficientPoints):
        points_debit(account=account, points=31, source=pos)

    lot_activate(entry=held)
    assert _balances(account) == (30, 0)
    assert held.lots.get().remaining == 30
    assert reconcile() == []


def test_transfer_moves_points_with_their_expiry_dates(program, pos):
    program.allow_transfers = True
    program.save()
    sender, receiver = AccountFactory(program=program), AccountFactory(program=program)
    expiry = timezone.now() + 30 * DAY
    points_credit(account=sender, points=100, source=pos, expires_at=expiry)

    out_entry, in_entry = points_transfer(from_account=sender, to_account=receiver, points=60, source=pos)

    assert (out_entry.points, in_entry.points) == (-60, 60)
    assert _balances(sender) == (40, 0)
    assert _balances(receiver) == (60, 0)
    assert list(in_entry.lots.values_list("points", "expires_at")) == [(60, expiry)]
    assert reconcile() == []


def test_transfer_is_refused_when_the_program_does_not_allow_it(program, pos):
    sender, receiver = AccountFactory(program=program), AccountFactory(program=program)
    points_credit(account=sender, points=100, source=pos)

    with pytest.raises(TransferNotAllowed) as error:
        points_transfer(from_account=sender, to_account=receiver, points=10, source=pos)
    assert error.value.code == "transfer_not_allowed"


def test_adjustment_records_the_staff_user_and_reason(account, staff_user):
    entry = points_adjust(account=account, points=500, reason="Goodwill after complaint", user=staff_user)
    debit = points_adjust(account=account, points=-200, reason="Duplicate goodwill", user=staff_user)

    assert (entry.kind, entry.source_type, entry.created_by) == (EntryKind.ADJUST, "staff", staff_user)
    assert debit.points == -200
    assert _balances(account) == (300, 0)


def test_services_raise_domain_events_inside_the_transaction(account, pos):
    received = []

    def record(event_type, account_id, data):
        received.append((event_type, account_id, data["points"], data["member"], data["program"], data["available"]))

    events.subscribe(record)
    try:
        earned = points_credit(account=account, points=10, source=pos)
        points_debit(account=account, points=4, source=pos)
        entry_reverse(entry=earned, source=pos, points=3)
    finally:
        events.unsubscribe(record)

    member, program = account.member.external_id, account.program.code
    assert received == [
        (events.POINTS_EARNED, account.pk, 10, member, program, 10),
        (events.POINTS_REDEEMED, account.pk, -4, member, program, 6),
        (events.POINTS_REVERSED, account.pk, -3, member, program, 3),
    ]
    assert (earned.account.member.external_id, earned.account.member.status) == (member, account.member.status)
    assert earned.account.member.first_name == account.member.first_name  # deferred, loaded on demand


def test_account_lookup_names_the_unknown_member(program):
    with pytest.raises(MemberNotFound) as error:
        account_for_member(program=program, member_external_id="nobody")
    assert error.value.field == "member"


# ---------------------------------------------------------------------------------------------------------------
# Bad input: a clear domain error, and nothing written.


def _snapshot(account: PointAccount) -> tuple:
    account.refresh_from_db()
    return (
        LedgerEntry.objects.count(),
        PointLot.objects.count(),
        list(PointLot.objects.order_by("pk").values_list("remaining", flat=True)),
        account.available,
        account.pending,
        account.lifetime_earned,
        account.lifetime_spent,
    )


@pytest.fixture
def funded(account, pos):
    credit = points_credit(account=account, points=100, source=pos, external_reference="seed")
    debit = points_debit(account=account, points=30, source=pos)
    return account, credit, debit


BAD_CALLS = {
    "zero credit": (lambda a, c, d, s: points_credit(account=a, points=0, source=s), "invalid", "points"),
    "negative credit": (lambda a, c, d, s: points_credit(account=a, points=-5, source=s), "invalid", "points"),
    "fractional credit": (lambda a, c, d, s: points_credit(account=a, points=1.5, source=s), "invalid", "points"),
    "decimal credit": (
        lambda a, c, d, s: points_credit(account=a, points=Decimal("10"), source=s),
        "invalid",
        "points",
    ),
    "boolean credit": (lambda a, c, d, s: points_credit(account=a, points=True, source=s), "invalid", "points"),
    "huge credit": (lambda a, c, d, s: points_credit(account=a, points=10**13, source=s), "invalid", "points"),
    "debit kind as credit": (
        lambda a, c, d, s: points_credit(account=a, points=5, source=s, kind=EntryKind.REDEEM),
        "invalid",
        "kind",
    ),
    "naive date": (
        lambda a, c, d, s: points_credit(
            account=a,
            points=5,
            source=s,
            effective_at=datetime.datetime(2026, 1, 1),
        ),
        "invalid",
        "effective_at",
    ),
    "no source": (lambda a, c, d, s: points_credit(account=a, points=5, source=None), "invalid", "source"),
    "duplicate reference": (
        lambda a, c, d, s: points_credit(account=a, points=5, source=s, external_reference="seed"),
        "duplicate_reference",
        "external_reference",
    ),
    "zero debit": (lambda a, c, d, s: points_debit(account=a, points=0, source=s), "invalid", "points"),
    "negative debit": (lambda a, c, d, s: points_debit(account=a, points=-1, source=s), "invalid", "points"),
    "debit above balance": (
        lambda a, c, d, s: points_debit(account=a, points=71, source=s),
        "insufficient_points",
        "points",
    ),
    "adjust without reason": (
        lambda a, c, d, s: points_credit(account=a, points=5, source=s, kind=EntryKind.ADJUST),
        "invalid",
        "reason",
    ),
    "reverse more than the entry": (
        lambda a, c, d, s: entry_reverse(entry=d, source=s, points=31),
        "reversal_exceeds_entry",
        "points",
    ),
    "reverse zero": (lambda a, c, d, s: entry_reverse(entry=d, source=s, points=0), "invalid", "points"),
    "unknown account": (
        lambda a, c, d, s: points_credit(account=PointAccount(pk=10**9), points=5, source=s),
        "account_not_found",
        "account",
    ),
}


@pytest.mark.parametrize("case", BAD_CALLS, ids=list(BAD_CALLS))
def test_bad_input_raises_a_clear_error_and_writes_nothing(funded, pos, case):
    account, credit, debit = funded
    call, code, field = BAD_CALLS[case]
    before = _snapshot(account)

    with pytest.raises(Exception) as error:
        call(account, credit, debit, pos)

    assert (getattr(error.value, "code", None), getattr(error.value, "field", None)) == (code, field)
    assert error.value.message
    assert _snapshot(account) == before


def test_reversing_twice_is_refused_and_writes_nothing(funded, pos):
    account, _, debit = funded
    entry_reverse(entry=debit, source=pos)
    before = _snapshot(account)

    with pytest.raises(AlreadyReversed) as error:
        entry_reverse(entry=debit, source=pos)

    assert error.value.code == "already_reversed"
    assert _snapshot(account) == before


def test_a_reversal_cannot_itself_be_reversed(funded, pos):
    account, _, debit = funded
    reversal = entry_reverse(entry=debit, source=pos, points=10)
    before = _snapshot(account)

    with pytest.raises(NotReversible):
        entry_reverse(entry=reversal, source=pos)
    assert _snapshot(account) == before


def test_blocked_member_can_neither_earn_nor_spend(funded, pos):
    account, _, _ = funded
    member_block(member=account.member, reason="Suspected card sharing")
    before = _snapshot(account)

    for attempt in (
        lambda: points_credit(account=account, points=5, source=pos),
        lambda: points_debit(account=account, points=5, source=pos),
    ):
        with pytest.raises(MemberBlocked) as error:
            attempt()
        assert error.value.code == "member_blocked"
    assert _snapshot(account) == before


def test_unknown_account_on_reverse_is_reported(db, pos):
    with pytest.raises(AccountNotFound):
        entry_reverse(entry=LedgerEntry(pk=1, account_id=10**9), source=pos)


def test_program_save_copies_a_new_negative_balance_policy_onto_accounts(program, pos):
    account = AccountFactory(program=program)
    program.negative_balance_policy = Program.NegativeBalancePolicy.ALLOW
    program_save(program=program)
    points_debit(account=account, points=50, source=pos)
    assert _balances(account) == (-50, 0)

    program.negative_balance_policy = Program.NegativeBalancePolicy.FORBID
    with pytest.raises(Exception) as error:
        program_save(program=program)

    assert (error.value.code, error.value.field) == ("invalid", "negative_balance_policy")
    program.refresh_from_db()
    assert program.negative_balance_policy == Program.NegativeBalancePolicy.ALLOW


@pytest.mark.parametrize(("field", "value"), [("timezone", "Mars/Olympus"), ("currency", "dirham")])
def test_program_save_rejects_unknown_zones_and_currencies(program, field, value):
    setattr(program, field, value)
    with pytest.raises(Exception) as error:
        program_save(program=program)
    assert error.value.field == field


# The credit prices with the program as this process cached it, and checks it under the lock.


def test_credit_follows_a_program_changed_elsewhere_since_this_process_cached_it(account, pos):
    program_terms(account.program_id)  # cached here, as an earlier request would have
    elsewhere = Program.objects.get(pk=account.program_id)
    elsewhere.pending_days = 7
    elsewhere.save()

    entry = points_credit(account=account, points=40, source=pos)

    assert _balances(account) == (0, 40)
    assert entry.lots.get().activates_at == entry.effective_at + 7 * DAY


def test_credit_is_refused_at_once_when_the_program_is_deactivated_elsewhere(account, pos):
    program_terms(account.program_id)
    Program.objects.filter(pk=account.program_id).update(active=False)
    before = _snapshot(account)

    with pytest.raises(ProgramInactive):
        points_credit(account=account, points=40, source=pos)

    assert _snapshot(account) == before


def test_a_refused_credit_leaves_the_callers_transaction_usable(funded, pos):
    account, _credit, _debit = funded
    other = AccountFactory(program=account.program)
    member_block(member=other.member, reason="Card reported stolen")

    with transaction.atomic():
        with pytest.raises(MemberBlocked):
            points_credit(account=other, points=5, source=pos)
        with pytest.raises(DuplicateReference):
            points_credit(account=account, points=5, source=pos, external_reference="seed")
        points_credit(account=account, points=5, source=pos, external_reference="after-refusals")

    assert _balances(account) == (75, 0)
    assert _balances(other) == (0, 0)
    assert LedgerEntry.objects.filter(external_reference="seed").count() == 1


def test_a_credit_failing_after_its_write_cannot_be_committed_by_the_caller(account, pos):
    def broken_handler(event_type, account_id, data):
        raise RuntimeError("a subscriber failed")

    events.subscribe(broken_handler)
    try:
        with pytest.raises(RuntimeError), transaction.atomic():
            try:
                points_credit(account=account, points=40, source=pos)
            except RuntimeError:
                assert transaction.get_rollback()
                raise
    finally:
        events.unsubscribe(broken_handler)

    assert _balances(account) == (0, 0)
    assert not LedgerEntry.objects.filter(account=account).exists()
