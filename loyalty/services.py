"""Every write to the points ledger.

Each service locks the account row(s) it touches (several in primary-key order) before reading lots or
balances, so all writers of one account are serialised and none can deadlock another. The set-based nightly
jobs take the same locks, in the same order, in batches. See ``loyalty.models.ledger`` for the invariants.
"""

import copy
import datetime
import zoneinfo
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import F, ProtectedError, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from config.errors import InvalidInput
from loyalty import events
from loyalty.errors import (
    AccountNotFound,
    AlreadyDecided,
    AlreadyEnrolled,
    AlreadyReversed,
    DuplicateReference,
    InsufficientPoints,
    NotPending,
    NotReversible,
    ProgramChanging,
    ProgramInactive,
    ReversalExceedsEntry,
    SelfApproval,
    TransferNotAllowed,
)
from loyalty.models import (
    AdjustmentRequest,
    EntryKind,
    LedgerEntry,
    LotAllocation,
    PointAccount,
    PointLot,
    Program,
    SourceType,
    Tier,
    TierChange,
)
from loyalty.policies import add_months, inactivity_period_sql, lot_expiry, program_zone
from loyalty.selectors import program_terms
from members.errors import MemberBlocked
from members.models import Member

MAX_POINTS_PER_ENTRY = 1_000_000_000
CREDIT_KINDS = frozenset({EntryKind.EARN, EntryKind.ADJUST, EntryKind.IMPORT})
DEBIT_KINDS = frozenset({EntryKind.REDEEM, EntryKind.ADJUST})
# Kinds counted in lifetime earned / spent (transfers and expiry are not).
EARNED_KINDS = frozenset({EntryKind.EARN, EntryKind.ADJUST, EntryKind.IMPORT})
SPENT_KINDS = frozenset({EntryKind.REDEEM, EntryKind.ADJUST})
NIGHTLY_BATCH_SIZE = 5_000


@dataclass(frozen=True)
class Source:
    """Who or what caused an entry."""

    type: str
    id: str = ""
    user: AbstractBaseUser | None = None

    @classmethod
    def staff(cls, user: AbstractBaseUser) -> "Source":
        return cls(SourceType.STAFF, str(user.pk), user)

    @classmethod
    def partner(cls, partner_id: int | str) -> "Source":
        return cls(SourceType.PARTNER, str(partner_id))

    @classmethod
    def import_batch(cls, batch_id: int | str) -> "Source":
        return cls(SourceType.IMPORT, str(batch_id))

    @classmethod
    def campaign(cls, campaign_id: int | str) -> "Source":
        return cls(SourceType.CAMPAIGN, str(campaign_id))

    @classmethod
    def system(cls, job: str) -> "Source":
        return cls(SourceType.SYSTEM, job)


# --------------------------------------------------------------------------------------------------------------
# Validation helpers


def _require_points(points: Any, *, field: str = "points") -> int:
    if isinstance(points, bool) or not isinstance(points, int):
        raise InvalidInput(_("%(field)s must be a whole number of points.") % {"field": field}, field=field)
    if points <= 0:
        raise InvalidInput(_("%(field)s must be greater than zero.") % {"field": field}, field=field)
    if points > MAX_POINTS_PER_ENTRY:
        raise InvalidInput(
            _("%(field)s must not exceed %(limit)s.") % {"field": field, "limit": MAX_POINTS_PER_ENTRY}, field=field
        )
    return points


def _require_aware(moment: datetime.datetime | None, *, field: str) -> datetime.datetime | None:
    if moment is not None and (not isinstance(moment, datetime.datetime) or timezone.is_naive(moment)):
        raise InvalidInput(_("%(field)s must be a date and time with a time zone.") % {"field": field}, field=field)
    return moment


def _require_source(source: Any) -> Source:
    if not isinstance(source, Source) or source.type not in SourceType.values:
        raise InvalidInput(_("source must name a staff user, partner, import, campaign or system job."), field="source")
    return source


def _clean_reference(reference: str | None) -> str | None:
    if reference is None:
        return None
    reference = str(reference).strip()
    if not reference:
        return None
    if len(reference) > 128:
        raise InvalidInput(_("external_reference must be at most 128 characters."), field="external_reference")
    return reference


def _clean_reason(reason: str | None, *, required: bool = False) -> str:
    reason = (reason or "").strip()
    if required and not reason:
        raise InvalidInput(_("A reason is required."), field="reason")
    if len(reason) > 255:
        raise InvalidInput(_("reason must be at most 255 characters."), field="reason")
    return reason


_ACCOUNT_COLUMNS = tuple(field.attname for field in PointAccount._meta.concrete_fields)
# The account row with only what the services need of its member and program; the program's policies come from
# the per-process program terms, read again when the row shows a newer version.
_LOCK_ACCOUNTS_SQL = (
    "SELECT "
    + ", ".join(f"a.{column}" for column in _ACCOUNT_COLUMNS)
    + """, m.status, m.external_id, p.active, p.updated_at
    FROM loyalty_pointaccount a
    JOIN members_member m ON m.id = a.member_id
    JOIN loyalty_program p ON p.id = a.program_id
    WHERE a.id = ANY(%s)
    ORDER BY a.id
    FOR UPDATE OF a"""
)


def _loaded(model, **values):
    """An instance of ``model`` as if loaded from the database with these fields; the others stay deferred."""
    names = [field.attname for field in model._meta.concrete_fields if field.attname in values]
    return model.from_db(None, names, [values[name] for name in names])


def _member_of(account: PointAccount, *, status: str, external_id: str) -> Member:
    # The member's other fields stay deferred: loaded only if something asks for them.
    return _loaded(Member, id=account.member_id, status=status, external_id=external_id)


def _current_program(program_id: int, updated_at: datetime.datetime, active: bool) -> Program:
    program, _tiers = program_terms(program_id)
    if program.updated_at != updated_at:
        program, _tiers = program_terms(program_id, reload=True)
    if program.active != active:  # switched by a bulk update that left updated_at alone
        program = copy.copy(program)
        program.active = active
    return program


def _lock_accounts(*account_ids: int) -> dict[int, PointAccount]:
    """Lock several accounts in primary-key order, the one order every writer uses; one statement."""
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_ACCOUNTS_SQL, [list(account_ids)])
        rows = cursor.fetchall()
    accounts = {}
    width = len(_ACCOUNT_COLUMNS)
    for row in rows:
        account = _loaded(PointAccount, **dict(zip(_ACCOUNT_COLUMNS, row[:width], strict=True)))
        status, external_id, active, updated_at = row[width:]
        account.member = _member_of(account, status=status, external_id=external_id)
        account.program = _current_program(account.program_id, updated_at, active)
        accounts[account.pk] = account
    return accounts


def _lock_account(account_id: int | None) -> PointAccount:
    account = _lock_accounts(account_id).get(account_id) if account_id is not None else None
    if account is None:
        raise AccountNotFound(_("There is no point account %(id)s.") % {"id": account_id}, field="account")
    return account


def _require_can_transact(account: PointAccount) -> None:
    if account.member.status == Member.Status.BLOCKED:
        raise MemberBlocked(
            _("Member %(id)s is blocked and cannot earn or spend points.") % {"id": account.member.external_id}
        )
    if not account.program.active:
        raise ProgramInactive(_("Program %(code)s is not active.") % {"code": account.program.code})


def _shortfall_message(account: PointAccount, points: int) -> str:
    return _("Account has %(available)s %(name)s available; %(points)s were requested.") % {
        "available": account.available,
        "name": account.program.points_name,
        "points": points,
    }


def _check_negative_policy(account: PointAccount, available_after: int, pending_after: int, points: int) -> None:
    policy = account.negative_balance_policy
    allowed = (
        available_after >= 0
        or policy == Program.NegativeBalancePolicy.ALLOW
        or (policy == Program.NegativeBalancePolicy.WITHIN_PENDING and available_after + pending_after >= 0)
    )
    if not allowed:
        raise InsufficientPoints(_shortfall_message(account, points), field="points")


# --------------------------------------------------------------------------------------------------------------
# Writing entries and moving lot points


def _insert_entry(
    *,
    account: PointAccount,
    kind: str,
    points: int,
    source: Source,
    now: datetime.datetime,
    effective_at: datetime.datetime | None = None,
    external_reference: str | None = None,
    reverses: LedgerEntry | None = None,
    spend_amount: Decimal | None = None,
    reason: str = "",
    metadata: dict | None = None,
) -> LedgerEntry:
    entry = LedgerEntry(
        account=account,
        kind=kind,
        points=points,
        effective_at=effective_at or now,
        created_at=now,
        source_type=source.type,
        source_id=source.id,
        created_by=source.user,
        external_reference=external_reference,
        reverses=reverses,
        spend_amount=spend_amount,
        currency=account.program.currency if spend_amount is not None else "",
        reason=reason,
        metadata=metadata or {},
    )
    try:
        entry.save(force_insert=True)
    except IntegrityError as error:
        constraint = getattr(getattr(error.__cause__, "diag", None), "constraint_name", "")
        if constraint == "loyalty_ledgerentry_reference_unique_per_source":
            raise DuplicateReference(
                _("Reference '%(reference)s' was already used by this source.") % {"reference": external_reference},
                field="external_reference",
            ) from error
        raise
    return entry


def _apply_allocations(entry: LedgerEntry, deltas: list[tuple[int, int]]) -> None:
    """Record and apply ``(lot_id, points)`` changes made by ``entry`` (two statements whatever the count)."""
    deltas = [(lot_id, points) for lot_id, points in deltas if points]
    if not deltas:
        return
    LotAllocation.objects.bulk_create(
        [LotAllocation(entry_id=entry.pk, lot_id=lot_id, points=points) for lot_id, points in deltas]
    )
    values = ", ".join(["(%s::bigint, %s::bigint)"] * len(deltas))
    params = [value for pair in deltas for value in pair]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE loyalty_pointlot AS lot SET remaining = lot.remaining + change.points "
            f"FROM (VALUES {values}) AS change(id, points) WHERE lot.id = change.id",
            params,
        )


def _take_from_lots(lots: list[PointLot], points: int) -> list[tuple[int, int]]:
    """Take up to ``points`` from ``lots`` in the order given; return negative deltas per lot."""
    deltas = []
    for lot in lots:
        if points <= 0:
            break
        taken = min(lot.remaining, points)
        if taken:
            deltas.append((lot.pk, -taken))
            lot.remaining -= taken
            points -= taken
    return deltas


def _spendable_lots(account: PointAccount, *, exclude_ids: tuple[int, ...] = ()) -> list[PointLot]:
    lots = PointLot.objects.filter(account=account, activated_at__isnull=False, remaining__gt=0)
    if exclude_ids:
        lots = lots.exclude(pk__in=exclude_ids)
    return list(lots.order_by(F("expires_at").asc(nulls_last=True), "pk").only("pk", "remaining", "expires_at"))


def _save_balances(account: PointAccount, now: datetime.datetime, *, activity: bool = True) -> None:
    fields = ["available", "pending", "lifetime_earned", "lifetime_spent", "lifetime_expired"]
    if activity:
        account.last_activity_at = now
        fields.append("last_activity_at")
    account.save(update_fields=fields)


def uncovered_debits(account_id: int) -> list[tuple[int, int]]:
    """``(entry_id, points)`` of debits not (yet) backed by lot points, oldest first: the account's debt."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH reversed AS (
                SELECT reverses_id AS entry_id, SUM(points) AS points
                FROM loyalty_ledgerentry
                WHERE account_id = %(account)s AND reverses_id IS NOT NULL
                GROUP BY reverses_id
            ), outstanding AS (
                SELECT CASE WHEN e.kind = 'reverse' AND e.points > 0 THEN e.reverses_id ELSE e.id END AS entry_id,
                       -SUM(a.points) AS points
                FROM loyalty_lotallocation a JOIN loyalty_ledgerentry e ON e.id = a.entry_id
                WHERE e.account_id = %(account)s
                GROUP BY 1
            )
            SELECT e.id, -e.points - COALESCE(r.points, 0) - COALESCE(o.points, 0) AS uncovered
            FROM loyalty_ledgerentry e
            LEFT JOIN reversed r ON r.entry_id = e.id
            LEFT JOIN outstanding o ON o.entry_id = e.id
            WHERE e.account_id = %(account)s AND e.points < 0
              AND -e.points - COALESCE(r.points, 0) - COALESCE(o.points, 0) > 0
            ORDER BY e.id
            """,
            {"account": account_id},
        )
        return list(cursor.fetchall())


def _settle_debt(account: PointAccount) -> None:
    """Cover outstanding debits from spendable lots, so lots never hold points while the account owes some."""
    debts = uncovered_debits(account.pk)
    if not debts:
        return
    lots = _spendable_lots(account)
    for entry_id, owed in debts:
        deltas = _take_from_lots(lots, owed)
        if not deltas:
            break
        _apply_allocations(LedgerEntry(pk=entry_id), deltas)


def _emit_entry(event_type: str, entry: LedgerEntry, account: PointAccount) -> None:
    events.emit(
        event_type,
        account_id=account.pk,
        data={
            "entry_id": entry.pk,
            "kind": entry.kind,
            "points": entry.points,
            "effective_at": entry.effective_at.isoformat(),
            "external_reference": entry.external_reference,
            "reverses": entry.reverses_id,
            "source_type": entry.source_type,
            "source_id": entry.source_id,
            "member": account.member.external_id,
            "member_id": account.member_id,
            "program": account.program.code,
            "available": account.available,
            "pending": account.pending,
        },
    )


# --------------------------------------------------------------------------------------------------------------
# Enrolment


@transaction.atomic
def member_enroll(*, member: Member, program: Program, enrolled_at: datetime.datetime | None = None) -> PointAccount:
    """Open the member's account in a program, on the entry tier."""
    _require_aware(enrolled_at, field="enrolled_at")
    if not program.active:
        raise ProgramInactive(_("Program %(code)s is not active.") % {"code": program.code})
    if member.status == Member.Status.BLOCKED:
        raise MemberBlocked(_("Member %(id)s is blocked and cannot be enrolled.") % {"id": member.external_id})
    entry_tier = Tier.objects.filter(program=program).order_by("rank").first()
    now = timezone.now()
    account = PointAccount(
        member=member,
        program=program,
        tier=entry_tier,
        tier_achieved_at=now if entry_tier else None,
        negative_balance_policy=program.negative_balance_policy,
        created_at=enrolled_at or now,
        last_activity_at=enrolled_at or now,
    )
    try:
        with transaction.atomic():
            account.save(force_insert=True)
    except IntegrityError as error:
        raise AlreadyEnrolled(
            _("Member %(id)s is already enrolled in %(code)s.") % {"id": member.external_id, "code": program.code},
            field="member",
        ) from error
    if entry_tier:
        TierChange.objects.create(account=account, to_tier=entry_tier, reason=TierChange.Reason.ENROLLED)
    events.emit(
        events.MEMBER_ENROLLED,
        account_id=account.pk,
        data={
            "member": member.external_id,
            "member_id": member.pk,
            "program": program.code,
            "tier": entry_tier.code if entry_tier else None,
        },
    )
    return account


# --------------------------------------------------------------------------------------------------------------
# Credit, debit, reverse


# The account columns the credit returns, as it left them.
_CREDITED_ACCOUNT_FIELDS = (
    "member_id",
    "program_id",
    "tier_id",
    "available",
    "pending",
    "lifetime_earned",
    "lifetime_spent",
    "lifetime_expired",
    "negative_balance_policy",
    "last_activity_at",
)
# One statement locks the account, checks the member and the program, inserts the entry and its lot and
# moves the balances. The guards only let the insert through when the member is not blocked, the program is
# active and still at the version the caller priced the credit with; a reference the source already used makes
# the insert do nothing. So an expected refusal writes nothing and raises no database error, and the write
# needs no savepoint of its own inside a caller's transaction.
_CREDIT_SQL = """
WITH target AS (
    SELECT a.id, a.available AS available_before, m.status AS member_status, m.external_id AS member_external_id,
           p.active AS program_active, p.updated_at AS program_updated_at
    FROM loyalty_pointaccount a
    JOIN members_member m ON m.id = a.member_id
    JOIN loyalty_program p ON p.id = a.program_id
    WHERE a.id = %(account)s
    FOR UPDATE OF a
), entry AS (
    INSERT INTO loyalty_ledgerentry (account_id, kind, points, effective_at, created_at, source_type, source_id,
                                     created_by_id, external_reference, spend_amount, currency, reason, metadata)
    SELECT id, %(kind)s, %(points)s, %(effective_at)s, %(now)s, %(source_type)s, %(source_id)s,
           %(created_by)s, %(reference)s, %(spend_amount)s, %(currency)s, %(reason)s, %(metadata)s
    FROM target
    WHERE member_status <> %(blocked)s AND program_active AND program_updated_at = %(program_updated_at)s
    ON CONFLICT (source_type, source_id, external_reference) WHERE external_reference IS NOT NULL DO NOTHING
    RETURNING id, account_id
), lot AS (
    INSERT INTO loyalty_pointlot (account_id, entry_id, points, remaining, activates_at, activated_at, expires_at,
                                  created_at)
    SELECT account_id, id, %(points)s, %(points)s, %(activates_at)s, %(activated_at)s, %(expires_at)s, %(now)s
    FROM entry
), balance AS (
    UPDATE loyalty_pointaccount a
    SET available = a.available + %(available)s, pending = a.pending + %(pending)s,
        lifetime_earned = a.lifetime_earned + %(points)s, last_activity_at = %(now)s
    FROM entry
    WHERE a.id = entry.account_id
    RETURNING {balance_columns}
)
SELECT target.member_status, target.member_external_id, target.program_active, target.program_updated_at,
       target.available_before, entry.id, balance.*
FROM target LEFT JOIN entry ON TRUE LEFT JOIN balance ON TRUE
""".replace("{balance_columns}", ", ".join(f"a.{column}" for column in _CREDITED_ACCOUNT_FIELDS))


def _write_transaction():
    """A transaction for a write that refuses before writing anything: inside a caller's transaction it adds
    nothing (a savepoint would cost two round trips and protect nothing), on its own it is one."""
    return nullcontext() if connection.in_atomic_block else transaction.atomic()


def points_credit(
    *,
    account: PointAccount,
    points: int,
    source: Source,
    kind: str = EntryKind.EARN,
    reason: str = "",
    external_reference: str | None = None,
    effective_at: datetime.datetime | None = None,
    activates_at: datetime.datetime | None = None,
    hold_until_event: bool = False,
    expires_at: datetime.datetime | None = None,
    spend_amount: Decimal | None = None,
    metadata: dict | None = None,
) -> LedgerEntry:
    """Credit points as a new lot: available at once, or pending until ``activates_at`` or an event.

    Without ``activates_at`` the program's pending days apply; without ``expires_at`` its expiry policy does.
    The returned entry carries the account as the credit left it (balances, member, program).
    """
    points = _require_points(points)
    source = _require_source(source)
    if kind not in CREDIT_KINDS:
        raise InvalidInput(_("%(kind)s is not a kind of credit.") % {"kind": kind}, field="kind")
    _require_aware(effective_at, field="effective_at")
    _require_aware(activates_at, field="activates_at")
    _require_aware(expires_at, field="expires_at")
    reason = _clean_reason(reason, required=kind == EntryKind.ADJUST)
    external_reference = _clean_reference(external_reference)
    if spend_amount is not None and (not isinstance(spend_amount, Decimal) or spend_amount < 0):
        raise InvalidInput(_("spend_amount must be a non-negative Decimal."), field="spend_amount")
    program_id = account.program_id
    if program_id is None:
        raise AccountNotFound(_("There is no point account %(id)s.") % {"id": account.pk}, field="account")
    metadata = metadata or {}
    metadata_field = LedgerEntry._meta.get_field("metadata")

    with _write_transaction():
        program, _tiers = program_terms(program_id)
        for _attempt in range(3):
            now = timezone.now()
            moment = effective_at or now
            activates = activates_at
            if activates is None and not hold_until_event and program.pending_days:
                activates = moment + datetime.timedelta(days=program.pending_days)
            pending = hold_until_event or (activates is not None and activates > now)
            expires = expires_at if expires_at is not None else lot_expiry(program, moment)
            with connection.cursor() as cursor:
                cursor.execute(
                    _CREDIT_SQL,
                    {
                        "account": account.pk,
                        "kind": kind,
                        "points": points,
                        "effective_at": moment,
                        "now": now,
                        "source_type": source.type,
                        "source_id": source.id,
                        "created_by": source.user.pk if source.user is not None else None,
                        "reference": external_reference,
                        "spend_amount": spend_amount,
                        "currency": program.currency if spend_amount is not None else "",
                        "reason": reason,
                        "metadata": metadata_field.get_db_prep_value(metadata, connection),
                        "blocked": Member.Status.BLOCKED,
                        "program_updated_at": program.updated_at,
                        "activates_at": None if hold_until_event else (activates or moment),
                        "activated_at": None if pending else now,
                        "expires_at": expires,
                        "available": 0 if pending else points,
                        "pending": points if pending else 0,
                    },
                )
                row = cursor.fetchone()
            if row is None:
                raise AccountNotFound(_("There is no point account %(id)s.") % {"id": account.pk}, field="account")
            member_status, member_external_id, program_active, program_updated_at, available_before, entry_id = row[:6]
            if member_status == Member.Status.BLOCKED:
                raise MemberBlocked(
                    _("Member %(id)s is blocked and cannot earn or spend points.") % {"id": member_external_id}
                )
            if not program_active:
                raise ProgramInactive(_("Program %(code)s is not active.") % {"code": program.code})
            if program_updated_at == program.updated_at:
                break
            program, _tiers = program_terms(program_id, reload=True)
        else:
            raise ProgramChanging(_("Program %(code)s is being changed; retry shortly.") % {"code": program.code})
        if entry_id is None:
            raise DuplicateReference(
                _("Reference '%(reference)s' was already used by this source.") % {"reference": external_reference},
                field="external_reference",
            )
        credited = _loaded(PointAccount, id=account.pk, **dict(zip(_CREDITED_ACCOUNT_FIELDS, row[6:], strict=True)))
        credited.program = program
        credited.member = _member_of(credited, status=member_status, external_id=member_external_id)
        entry = _loaded(
            LedgerEntry,
            id=entry_id,
            account_id=account.pk,
            kind=kind,
            points=points,
            effective_at=moment,
            created_at=now,
            source_type=source.type,
            source_id=source.id,
            created_by_id=source.user.pk if source.user is not None else None,
            external_reference=external_reference,
            reverses_id=None,
            spend_amount=spend_amount,
            currency=program.currency if spend_amount is not None else "",
            reason=reason,
            metadata=metadata,
        )
        entry.account = credited
        try:
            if not pending and available_before < 0:
                _settle_debt(credited)
            _emit_entry(events.POINTS_EARNED, entry, credited)
        except BaseException:
            # The credit is written; without a savepoint to undo it alone, the caller's transaction must not
            # commit it half done.
            transaction.set_rollback(True)
            raise
    return entry


@transaction.atomic
def points_debit(
    *,
    account: PointAccount,
    points: int,
    source: Source,
    kind: str = EntryKind.REDEEM,
    reason: str = "",
    external_reference: str | None = None,
    effective_at: datetime.datetime | None = None,
    metadata: dict | None = None,
) -> LedgerEntry:
    """Spend points from the soonest-expiring active lots first, within the negative-balance policy."""
    points = _require_points(points)
    source = _require_source(source)
    if kind not in DEBIT_KINDS:
        raise InvalidInput(_("%(kind)s is not a kind of debit.") % {"kind": kind}, field="kind")
    _require_aware(effective_at, field="effective_at")
    reason = _clean_reason(reason, required=kind == EntryKind.ADJUST)
    external_reference = _clean_reference(external_reference)

    account = _lock_account(account.pk)
    _require_can_transact(account)
    _check_negative_policy(account, account.available - points, account.pending, points)
    now = timezone.now()
    entry = _insert_entry(
        account=account,
        kind=kind,
        points=-points,
        source=source,
        now=now,
        effective_at=effective_at,
        external_reference=external_reference,
        reason=reason,
        metadata=metadata,
    )
    _apply_allocations(entry, _take_from_lots(_spendable_lots(account), points))
    account.available -= points
    account.lifetime_spent += points
    _save_balances(account, now)
    _emit_entry(events.POINTS_REDEEMED, entry, account)
    return entry


@transaction.atomic
def points_adjust(
    *, account: PointAccount, points: int, reason: str, user: AbstractBaseUser, metadata: dict | None = None
) -> LedgerEntry:
    """A staff correction: positive points credit, negative points debit; a reason is required.

    Operators go through ``adjustment_submit``, which asks for a second person's approval above the threshold.
    """
    if isinstance(points, bool) or not isinstance(points, int) or points == 0:
        raise InvalidInput(_("points must be a non-zero whole number."), field="points")
    _clean_reason(reason, required=True)
    service = points_credit if points > 0 else points_debit
    return service(
        account=account,
        points=abs(points),
        source=Source.staff(user),
        kind=EntryKind.ADJUST,
        reason=reason,
        metadata=metadata,
    )


def _reversed_so_far(entry: LedgerEntry) -> int:
    total = LedgerEntry.objects.filter(reverses=entry).aggregate(total=Sum("points"))["total"] or 0
    return abs(total)


def _proportional_amount(amount: Decimal | None, part: int, whole: int) -> Decimal | None:
    if amount is None:
        return None
    return -(amount * part / whole).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@transaction.atomic
def entry_reverse(
    *,
    entry: LedgerEntry,
    source: Source,
    points: int | None = None,
    reason: str = "",
    external_reference: str | None = None,
    metadata: dict | None = None,
) -> LedgerEntry:
    """Reverse an entry in full or in part with a new entry pointing at it.

    Reversing a credit takes points back from its own lots first, then from other spendable lots. Reversing a
    debit first pays off any part of it that was never backed by lots, then gives points back to exactly the
    lots it took, latest-expiring first.
    """
    source = _require_source(source)
    reason = _clean_reason(reason)
    external_reference = _clean_reference(external_reference)
    if points is not None:
        points = _require_points(points)
    account = _lock_account(entry.account_id)
    original = LedgerEntry.objects.get(pk=entry.pk)
    if original.kind in (EntryKind.REVERSE, EntryKind.EXPIRE, EntryKind.TRANSFER_IN, EntryKind.TRANSFER_OUT):
        raise NotReversible(
            _("A %(display)s entry cannot be reversed.") % {"display": original.get_kind_display().lower()},
            field="entry",
        )
    reversible = abs(original.points) - _reversed_so_far(original)
    if reversible == 0:
        raise AlreadyReversed(_("Entry %(pk)s has already been reversed in full.") % {"pk": original.pk}, field="entry")
    points = reversible if points is None else points
    if points > reversible:
        raise ReversalExceedsEntry(
            _("Only %(reversible)s points of entry %(pk)s are left to reverse; %(points)s were requested.")
            % {"reversible": reversible, "pk": original.pk, "points": points},
            field="points",
        )
    now = timezone.now()
    common = {
        "account": account,
        "kind": EntryKind.REVERSE,
        "source": source,
        "now": now,
        "external_reference": external_reference,
        "reverses": original,
        "spend_amount": _proportional_amount(original.spend_amount, points, abs(original.points)),
        "reason": reason,
        "metadata": metadata,
    }
    if original.points > 0:
        entry = _reverse_credit(account, original, points, common)
    else:
        entry = _reverse_debit(account, original, points, common)
    _save_balances(account, now, activity=False)
    _emit_entry(events.POINTS_REVERSED, entry, account)
    return entry


def _reverse_credit(account: PointAccount, original: LedgerEntry, points: int, common: dict) -> LedgerEntry:
    own_lots = list(original.lots.filter(remaining__gt=0).order_by("pk"))
    own_pending = [lot for lot in own_lots if lot.activated_at is None]
    own_active = [lot for lot in own_lots if lot.activated_at is not None]
    pending_deltas = _take_from_lots(own_pending, points)
    from_pending = -sum(delta for _, delta in pending_deltas)
    from_available = points - from_pending
    _check_negative_policy(account, account.available - from_available, account.pending - from_pending, points)
    active_deltas = _take_from_lots(own_active, from_available)
    still_needed = from_available + sum(delta for _, delta in active_deltas)
    if still_needed:
        others = _spendable_lots(account, exclude_ids=tuple(lot.pk for lot in own_lots))
        active_deltas += _take_from_lots(others, still_needed)
    entry = _insert_entry(points=-points, **common)
    _apply_allocations(entry, pending_deltas + active_deltas)
    account.pending -= from_pending
    account.available -= from_available
    if original.kind in EARNED_KINDS:
        account.lifetime_earned -= points
    return entry


def _reverse_debit(account: PointAccount, original: LedgerEntry, points: int, common: dict) -> LedgerEntry:
    reversal_ids = list(original.reversals.values_list("pk", flat=True))
    taken = (
        LotAllocation.objects.filter(entry_id__in=[original.pk, *reversal_ids])
        .values("lot_id")
        .annotate(outstanding=-Sum("points"))
        .filter(outstanding__gt=0)
    )
    outstanding = {row["lot_id"]: row["outstanding"] for row in taken}
    uncovered = abs(original.points) - _reversed_so_far(original) - sum(outstanding.values())
    to_restore = points - min(points, uncovered)
    lots = PointLot.objects.filter(pk__in=outstanding).order_by(F("expires_at").desc(nulls_first=True), "-pk")
    deltas = []
    for lot in lots:
        if to_restore <= 0:
            break
        given = min(outstanding[lot.pk], to_restore)
        deltas.append((lot.pk, given))
        to_restore -= given
    entry = _insert_entry(points=points, **common)
    _apply_allocations(entry, deltas)
    available_before = account.available
    account.available += points
    if original.kind in SPENT_KINDS:
        account.lifetime_spent -= points
    if available_before < 0 and deltas:
        _settle_debt(account)
    return entry


# --------------------------------------------------------------------------------------------------------------
# Transfers and event-driven activation


@transaction.atomic
def points_transfer(
    *,
    from_account: PointAccount,
    to_account: PointAccount,
    points: int,
    source: Source,
    reason: str = "",
    external_reference: str | None = None,
) -> tuple[LedgerEntry, LedgerEntry]:
    """Move available points to another member of the same program; the points keep their expiry dates."""
    points = _require_points(points)
    source = _require_source(source)
    reason = _clean_reason(reason)
    external_reference = _clean_reference(external_reference)
    if from_account.pk == to_account.pk:
        raise TransferNotAllowed(_("A transfer needs two different accounts."), field="to_account")
    locked = _lock_accounts(from_account.pk, to_account.pk)
    sender, receiver = locked[from_account.pk], locked[to_account.pk]
    if sender.program_id != receiver.program_id:
        raise TransferNotAllowed(_("Points can only move between accounts of one program."), field="to_account")
    if not sender.program.allow_transfers:
        raise TransferNotAllowed(
            _("Program %(code)s does not allow transfers.") % {"code": sender.program.code}, field="program"
        )
    _require_can_transact(sender)
    _require_can_transact(receiver)
    if sender.available < points:
        raise InsufficientPoints(_shortfall_message(sender, points), field="points")
    now = timezone.now()
    out_entry = _insert_entry(
        account=sender,
        kind=EntryKind.TRANSFER_OUT,
        points=-points,
        source=source,
        now=now,
        external_reference=external_reference,
        reason=reason,
        metadata={"to_account": receiver.pk},
    )
    lots = _spendable_lots(sender)
    expiry_of = {lot.pk: lot.expires_at for lot in lots}
    deltas = _take_from_lots(lots, points)
    _apply_allocations(out_entry, deltas)
    in_entry = _insert_entry(
        account=receiver,
        kind=EntryKind.TRANSFER_IN,
        points=points,
        source=source,
        now=now,
        reason=reason,
        metadata={"from_account": sender.pk, "transfer_out": out_entry.pk},
    )
    PointLot.objects.bulk_create(
        [
            PointLot(
                account=receiver,
                entry=in_entry,
                points=-taken,
                remaining=-taken,
                activates_at=now,
                activated_at=now,
                expires_at=expiry_of[lot_id],
                created_at=now,
            )
            for lot_id, taken in deltas
        ]
    )
    sender.available -= points
    receiver_before = receiver.available
    receiver.available += points
    _save_balances(sender, now)
    _save_balances(receiver, now)
    if receiver_before < 0:
        _settle_debt(receiver)
    _emit_entry(events.POINTS_REDEEMED, out_entry, sender)
    _emit_entry(events.POINTS_EARNED, in_entry, receiver)
    return out_entry, in_entry


@transaction.atomic
def lot_activate(*, entry: LedgerEntry) -> int:
    """Make the pending lots of a credit available now (e.g. when the return window closes); return points."""
    account = _lock_account(entry.account_id)
    lots = list(PointLot.objects.filter(entry_id=entry.pk, activated_at__isnull=True))
    if not lots:
        raise NotPending(_("Entry %(pk)s has no pending points.") % {"pk": entry.pk}, field="entry")
    now = timezone.now()
    PointLot.objects.filter(pk__in=[lot.pk for lot in lots]).update(activated_at=now)
    points = sum(lot.remaining for lot in lots)
    available_before = account.available
    account.pending -= points
    account.available += points
    _save_balances(account, now, activity=False)
    if available_before < 0:
        _settle_debt(account)
    return points


# --------------------------------------------------------------------------------------------------------------
# Nightly jobs: set-based, in batches of locked accounts, safe to rerun


@dataclass
class JobResult:
    accounts: int = 0
    lots: int = 0
    points: int = 0


def _in_locked_batches(lock_sql: str, params: dict, process: Callable[[list[int]], None]) -> None:
    """Lock accounts batch by batch and hand each batch's ids to ``process`` inside that batch's transaction.

    ``lock_sql`` selects ``a.id`` from accounts with ``a.id > %(after)s ORDER BY a.id LIMIT %(batch)s FOR UPDATE``:
    locks are taken in id order (the order every writer uses), and the statements ``process`` runs next see every
    change committed before the locks were granted.
    """
    after = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(lock_sql, {**params, "after": after, "batch": NIGHTLY_BATCH_SIZE})
            account_ids = [row[0] for row in cursor.fetchall()]
            if not account_ids:
                return
            process(account_ids)
        after = account_ids[-1]


def _fetch(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


_PROGRAM_FILTER = "(%(program)s::bigint IS NULL OR a.program_id = %(program)s)"
_BATCH_ORDER = "AND a.id > %(after)s ORDER BY a.id LIMIT %(batch)s FOR UPDATE OF a"


def lots_activate_due(*, now: datetime.datetime | None = None, program: Program | None = None) -> JobResult:
    """Make every pending lot whose activation time has come available; rerunning finds nothing more."""
    now = _require_aware(now, field="now") or timezone.now()
    result = JobResult()

    def activate(account_ids: list[int]) -> None:
        rows = _fetch(
            """
            WITH due AS (
                UPDATE loyalty_pointlot SET activated_at = %(now)s
                WHERE account_id = ANY(%(ids)s) AND activated_at IS NULL AND activates_at <= %(now)s
                RETURNING account_id, remaining
            ), totals AS (
                SELECT account_id, SUM(remaining) AS points, COUNT(*) AS lots FROM due GROUP BY account_id
            )
            UPDATE loyalty_pointaccount a
            SET available = a.available + t.points, pending = a.pending - t.points
            FROM totals t WHERE a.id = t.account_id
            RETURNING a.id, a.available - t.points, t.points, t.lots
            """,
            {"now": now, "ids": account_ids},
        )
        for account_id, available_before, points, lots in rows:
            result.accounts += 1
            result.points += points
            result.lots += lots
            if available_before < 0:
                _settle_debt(PointAccount.objects.get(pk=account_id))

    _in_locked_batches(
        f"""
        SELECT a.id FROM loyalty_pointaccount a
        WHERE a.id IN (SELECT account_id FROM loyalty_pointlot WHERE activated_at IS NULL AND activates_at <= %(now)s)
          AND {_PROGRAM_FILTER} {_BATCH_ORDER}
        """,
        {"now": now, "program": program.pk if program else None},
        activate,
    )
    return result


def lots_expire_due(*, now: datetime.datetime | None = None, program: Program | None = None) -> JobResult:
    """Turn the remaining points of lapsed lots into one expire entry per account; rerunning finds nothing more.

    A lot lapses at its ``expires_at``, or, under the inactivity policy, when the account has had no activity
    for the program's period.
    """
    now = _require_aware(now, field="now") or timezone.now()
    inactive = f"(p.expiry_policy = 'inactivity' AND a.last_activity_at < %(now)s - {inactivity_period_sql('p')})"
    result = JobResult()

    def expire(account_ids: list[int]) -> None:
        rows = _fetch(
            f"""
            WITH due AS (
                SELECT l.id, l.account_id, l.remaining
                FROM loyalty_pointlot l
                JOIN loyalty_pointaccount a ON a.id = l.account_id
                JOIN loyalty_program p ON p.id = a.program_id
                WHERE l.account_id = ANY(%(ids)s) AND l.remaining > 0 AND l.activated_at IS NOT NULL
                  AND (l.expires_at <= %(now)s OR {inactive})
            ), totals AS (
                SELECT account_id, SUM(remaining) AS points, COUNT(*) AS lots FROM due GROUP BY account_id
            ), entries AS (
                INSERT INTO loyalty_ledgerentry (account_id, kind, points, effective_at, created_at,
                    source_type, source_id, reason, currency, metadata)
                SELECT account_id, 'expire', -points, %(now)s, %(now)s, 'system', 'lots_expire_due',
                    '', '', '{{}}'::jsonb
                FROM totals
                RETURNING id, account_id
            ), allocations AS (
                INSERT INTO loyalty_lotallocation (entry_id, lot_id, points)
                SELECT e.id, d.id, -d.remaining FROM due d JOIN entries e ON e.account_id = d.account_id
            ), lots AS (
                UPDATE loyalty_pointlot l SET remaining = 0 FROM due d WHERE l.id = d.id
            ), accounts AS (
                UPDATE loyalty_pointaccount a
                SET available = a.available - t.points, lifetime_expired = a.lifetime_expired + t.points
                FROM totals t WHERE a.id = t.account_id
            )
            SELECT t.account_id, t.points, t.lots, e.id, a.member_id, p.code
            FROM totals t
            JOIN entries e ON e.account_id = t.account_id
            JOIN loyalty_pointaccount a ON a.id = t.account_id
            JOIN loyalty_program p ON p.id = a.program_id
            """,
            {"now": now, "ids": account_ids},
        )
        for account_id, points, lots, entry_id, member_id, program_code in rows:
            result.accounts += 1
            result.points += points
            result.lots += lots
            events.emit(
                events.POINTS_EXPIRED,
                account_id=account_id,
                data={"entry_id": entry_id, "points": -points, "member_id": member_id, "program": program_code},
            )

    _in_locked_batches(
        f"""
        SELECT a.id FROM loyalty_pointaccount a JOIN loyalty_program p ON p.id = a.program_id
        WHERE {_PROGRAM_FILTER} AND (
            a.id IN (SELECT account_id FROM loyalty_pointlot
                     WHERE remaining > 0 AND expires_at <= %(now)s AND activated_at IS NOT NULL)
            OR ({inactive} AND a.available > 0))
        {_BATCH_ORDER}
        """,
        {"now": now, "program": program.pk if program else None},
        expire,
    )
    return result


# --------------------------------------------------------------------------------------------------------------
# Tiers


@dataclass
class TierResult:
    upgraded: int = 0
    downgraded: int = 0
    grace_started: int = 0


def _window_start(tier: Tier, now: datetime.datetime) -> datetime.datetime | None:
    if tier.window == Tier.Window.ROLLING_MONTHS:
        return add_months(now, -tier.window_months)
    if tier.window == Tier.Window.CALENDAR_YEAR:
        local = now.astimezone(program_zone(tier.program))
        return local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    return None


def _tier_statement(tiers: list[Tier], now: datetime.datetime) -> tuple[str, dict]:
    """One statement that moves every account in ``%(ids)s`` to the tier its activity qualifies it for.

    Qualifying activity is earn entries and their reversals, dated by the original earn. Each tier reads its
    own metric and window; a member below their tier keeps it for the tier's grace days.
    """
    params: dict[str, Any] = {"now": now, "program": tiers[0].program_id, "min_rank": tiers[0].rank}
    columns, qualifies, metric_of_rank = [], [], []
    for index, tier in enumerate(tiers):
        value = "e.points" if tier.metric == Tier.Metric.POINTS_EARNED else "COALESCE(e.spend_amount, 0)"
        start = _window_start(tier, now)
        window = ""
        if start is not None:
            params[f"start_{index}"] = start
            window = f" FILTER (WHERE COALESCE(o.effective_at, e.effective_at) >= %(start_{index})s)"
        columns.append(f"COALESCE(SUM({value}){window}, 0) AS m_{index}")
        params[f"threshold_{index}"] = tier.threshold
        params[f"rank_{index}"] = tier.rank
        qualifies.append(f"CASE WHEN COALESCE(m.m_{index}, 0) >= %(threshold_{index})s THEN %(rank_{index})s::int END")
        metric_of_rank.append(f"WHEN %(rank_{index})s::int THEN COALESCE(t.m_{index}, 0)")
    sql = f"""
        WITH metrics AS (
            SELECT e.account_id, {", ".join(columns)}
            FROM loyalty_ledgerentry e LEFT JOIN loyalty_ledgerentry o ON o.id = e.reverses_id
            WHERE e.account_id = ANY(%(ids)s) AND (e.kind = 'earn' OR (e.kind = 'reverse' AND o.kind = 'earn'))
            GROUP BY e.account_id
        ), target AS (
            SELECT a.id, a.tier_id, a.tier_grace_until, cur.rank AS current_rank,
                   COALESCE(cur.downgrade_grace_days, 0) AS grace_days,
                   COALESCE(GREATEST({", ".join(qualifies)}), %(min_rank)s::int) AS target_rank, m.*
            FROM loyalty_pointaccount a
            LEFT JOIN metrics m ON m.account_id = a.id
            LEFT JOIN loyalty_tier cur ON cur.id = a.tier_id
            WHERE a.id = ANY(%(ids)s)
        ), decided AS (
            SELECT t.id, t.tier_id, t.grace_days, nt.id AS target_tier_id,
                   CASE t.target_rank {" ".join(metric_of_rank)} END AS metric_value,
                   CASE
                       WHEN t.current_rank IS NULL OR t.target_rank > t.current_rank THEN 'upgrade'
                       WHEN t.target_rank = t.current_rank THEN
                           CASE WHEN t.tier_grace_until IS NULL THEN 'same' ELSE 'requalified' END
                       WHEN t.grace_days = 0 OR t.tier_grace_until <= %(now)s THEN 'downgrade'
                       WHEN t.tier_grace_until IS NULL THEN 'grace_started'
                       ELSE 'same'
                   END AS decision
            FROM target t JOIN loyalty_tier nt ON nt.program_id = %(program)s AND nt.rank = t.target_rank
        ), updated AS (
            UPDATE loyalty_pointaccount a SET
                tier_id = CASE WHEN d.decision IN ('upgrade', 'downgrade') THEN d.target_tier_id ELSE a.tier_id END,
                tier_achieved_at = CASE WHEN d.decision IN ('upgrade', 'downgrade') THEN %(now)s
                                        ELSE a.tier_achieved_at END,
                tier_grace_until = CASE WHEN d.decision = 'grace_started'
                                        THEN %(now)s + make_interval(days => d.grace_days) END
            FROM decided d WHERE a.id = d.id AND d.decision <> 'same'
            RETURNING a.id, a.member_id, d.tier_id AS from_tier_id, a.tier_id AS to_tier_id, d.decision,
                      d.metric_value
        ), recorded AS (
            INSERT INTO loyalty_tierchange
                (account_id, from_tier_id, to_tier_id, reason, metric_value, note, changed_at)
            SELECT id, from_tier_id, to_tier_id, decision, metric_value, '', %(now)s
            FROM updated WHERE decision IN ('upgrade', 'downgrade', 'grace_started')
            RETURNING account_id, reason, from_tier_id, to_tier_id
        )
        SELECT r.account_id, u.member_id, r.reason, r.from_tier_id, r.to_tier_id
        FROM recorded r JOIN updated u ON u.id = r.account_id
    """
    return sql, params


def _evaluate_tier_batch(
    sql: str, params: dict, account_ids: list[int], result: TierResult, tiers: dict[int, Tier]
) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, {**params, "ids": account_ids})
        for account_id, member_id, reason, from_tier_id, to_tier_id in cursor.fetchall():
            if reason == TierChange.Reason.GRACE_STARTED:
                result.grace_started += 1
                continue
            if reason == TierChange.Reason.UPGRADE:
                result.upgraded += 1
            else:
                result.downgraded += 1
            _emit_tier_change(account_id, member_id, tiers.get(from_tier_id), tiers[to_tier_id], reason)


def _emit_tier_change(account_id: int, member_id: int, from_tier: Tier | None, to_tier: Tier, reason: str) -> None:
    events.emit(
        events.TIER_CHANGED,
        account_id=account_id,
        data={
            "member_id": member_id,
            "program": to_tier.program.code,
            "from_tier": from_tier.code if from_tier else None,
            "to_tier": to_tier.code,
            "reason": reason,
        },
    )


def _program_tiers(program: Program) -> list[Tier]:
    # Loaded once per run: the evaluation statement and the events of every batch read them.
    return list(Tier.objects.filter(program=program).select_related("program").order_by("rank"))


def tiers_evaluate(*, program: Program, now: datetime.datetime | None = None) -> TierResult:
    """Re-evaluate the tier of every account in the program, in batches; safe to rerun."""
    now = _require_aware(now, field="now") or timezone.now()
    result = TierResult()
    tiers = _program_tiers(program)
    if tiers:
        sql, params = _tier_statement(tiers, now)
        tiers_by_id = {tier.pk: tier for tier in tiers}
        _in_locked_batches(
            f"SELECT a.id FROM loyalty_pointaccount a WHERE a.program_id = %(program)s {_BATCH_ORDER}",
            {"program": program.pk},
            lambda account_ids: _evaluate_tier_batch(sql, params, account_ids, result, tiers_by_id),
        )
    return result


@transaction.atomic
def tier_evaluate_account(*, account: PointAccount, now: datetime.datetime | None = None) -> PointAccount:
    """Re-evaluate one member's tier now; returns the account with its tier as it now stands."""
    now = _require_aware(now, field="now") or timezone.now()
    account = _lock_account(account.pk)
    tiers = _program_tiers(account.program)
    if tiers:
        sql, params = _tier_statement(tiers, now)
        _evaluate_tier_batch(sql, params, [account.pk], TierResult(), {tier.pk: tier for tier in tiers})
    account.refresh_from_db()
    return account


@transaction.atomic
def tier_assign(*, account: PointAccount, tier: Tier, user: AbstractBaseUser | None, note: str) -> PointAccount:
    """Put a member on a tier by hand (e.g. a status match); nightly evaluation may move them later."""
    note = _clean_reason(note, required=True)
    account = _lock_account(account.pk)
    if tier.program_id != account.program_id:
        raise InvalidInput(_("The tier belongs to another program."), field="tier")
    if account.tier_id == tier.pk:
        return account
    now = timezone.now()
    TierChange.objects.create(
        account=account,
        from_tier_id=account.tier_id,
        to_tier=tier,
        reason=TierChange.Reason.MANUAL,
        note=note,
        changed_by=user,
        changed_at=now,
    )
    previous_tier = account.tier
    account.tier = tier
    account.tier_achieved_at = now
    account.tier_grace_until = None
    account.save(update_fields=["tier", "tier_achieved_at", "tier_grace_until"])
    _emit_tier_change(account.pk, account.member_id, previous_tier, tier, TierChange.Reason.MANUAL)
    return account


def expiry_warnings_send(*, program: Program, now: datetime.datetime | None = None) -> JobResult:
    """Raise one ``points.expiring`` event per account with points lapsing within the program's warning days.

    Each lot is warned about once (``expiry_warned_at``), so rerunning sends nothing twice.
    """
    now = _require_aware(now, field="now") or timezone.now()
    params = {"now": now, "until": now + datetime.timedelta(days=program.expiry_warning_days), "program": program.pk}
    due_lots = (
        "remaining > 0 AND activated_at IS NOT NULL AND expiry_warned_at IS NULL "
        "AND expires_at > %(now)s AND expires_at <= %(until)s"
    )
    result = JobResult()

    def warn(account_ids: list[int]) -> None:
        rows = _fetch(
            f"""
            WITH warned AS (
                UPDATE loyalty_pointlot SET expiry_warned_at = %(now)s
                WHERE account_id = ANY(%(ids)s) AND {due_lots}
                RETURNING account_id, remaining, expires_at
            )
            SELECT w.account_id, SUM(w.remaining), MIN(w.expires_at), COUNT(*), a.member_id
            FROM warned w JOIN loyalty_pointaccount a ON a.id = w.account_id
            GROUP BY w.account_id, a.member_id
            """,
            {**params, "ids": account_ids},
        )
        for account_id, points, first_expiry, lots, member_id in rows:
            result.accounts += 1
            result.points += points
            result.lots += lots
            events.emit(
                events.POINTS_EXPIRING,
                account_id=account_id,
                data={
                    "points": points,
                    "first_expires_at": first_expiry.isoformat(),
                    "member_id": member_id,
                    "program": program.code,
                },
            )

    _in_locked_batches(
        f"""
        SELECT a.id FROM loyalty_pointaccount a
        WHERE a.program_id = %(program)s AND a.id IN (SELECT account_id FROM loyalty_pointlot WHERE {due_lots})
        {_BATCH_ORDER}
        """,
        params,
        warn,
    )
    return result


def nightly_run(*, program: Program, now: datetime.datetime | None = None) -> dict[str, Any]:
    """The nightly jobs of one program, in their fixed order; each step is safe to rerun."""
    now = now or timezone.now()
    return {
        "activated": lots_activate_due(now=now, program=program),
        "expired": lots_expire_due(now=now, program=program),
        "tiers": tiers_evaluate(program=program, now=now),
        "warned": expiry_warnings_send(program=program, now=now),
    }


# --------------------------------------------------------------------------------------------------------------
# Manual adjustments with a second person's approval above the threshold


def _approval_threshold() -> int:
    return settings.LOYALTY_ADJUSTMENT_APPROVAL_THRESHOLD


@transaction.atomic
def adjustment_submit(*, account: PointAccount, points: int, reason: str, user: AbstractBaseUser) -> AdjustmentRequest:
    """Adjust points by hand: applied at once up to the approval threshold, above it kept for a second person."""
    if isinstance(points, bool) or not isinstance(points, int) or points == 0:
        raise InvalidInput(_("points must be a non-zero whole number."), field="points")
    _require_points(abs(points))
    reason = _clean_reason(reason, required=True)
    request = AdjustmentRequest.objects.create(account=account, points=points, reason=reason, requested_by=user)
    if abs(points) <= _approval_threshold():
        _apply_adjustment(request, decided_by=None)
    return request


def _apply_adjustment(request: AdjustmentRequest, *, decided_by: AbstractBaseUser | None, note: str = "") -> None:
    metadata = {"adjustment_request": request.pk}
    if decided_by is not None:
        metadata["approved_by"] = decided_by.pk
    request.entry = points_adjust(
        account=request.account,
        points=request.points,
        reason=request.reason,
        user=request.requested_by,
        metadata=metadata,
    )
    request.status = AdjustmentRequest.Status.APPLIED
    request.decided_by = decided_by
    request.decided_at = timezone.now()
    request.decision_note = note
    request.save(update_fields=["entry", "status", "decided_by", "decided_at", "decision_note"])


def _lock_pending_request(request: AdjustmentRequest, user: AbstractBaseUser) -> AdjustmentRequest:
    request = AdjustmentRequest.objects.select_for_update().select_related("account", "requested_by").get(pk=request.pk)
    if request.status != AdjustmentRequest.Status.PENDING:
        raise AlreadyDecided(
            _("Adjustment %(pk)s has already been %(display)s.")
            % {"pk": request.pk, "display": request.get_status_display().lower()}
        )
    if request.requested_by_id == user.pk:
        raise SelfApproval(_("A second person must decide on an adjustment you requested."), field="user")
    return request


@transaction.atomic
def adjustment_approve(*, request: AdjustmentRequest, user: AbstractBaseUser, note: str = "") -> AdjustmentRequest:
    """Apply a waiting adjustment; the approver must not be the person who asked for it."""
    request = _lock_pending_request(request, user)
    _apply_adjustment(request, decided_by=user, note=_clean_reason(note))
    return request


@transaction.atomic
def adjustment_reject(*, request: AdjustmentRequest, user: AbstractBaseUser, note: str) -> AdjustmentRequest:
    """Refuse a waiting adjustment with a reason; nothing is written to the ledger."""
    note = _clean_reason(note, required=True)
    request = _lock_pending_request(request, user)
    request.status = AdjustmentRequest.Status.REJECTED
    request.decided_by = user
    request.decided_at = timezone.now()
    request.decision_note = note
    request.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    return request


# --------------------------------------------------------------------------------------------------------------
# Programs


def tiers_validate(tiers: Iterable[Tier]) -> None:
    """Check a program's tiers as a whole, as they will be after a change.

    The lowest rank is the entry tier every member starts on, so it is reached with nothing (threshold 0); among
    tiers measured the same way (metric and window), a higher rank needs a higher threshold.
    """
    ordered = sorted(tiers, key=lambda tier: tier.rank)
    if not ordered:
        return
    entry = ordered[0]
    if entry.threshold != 0:
        raise InvalidInput(
            _("%(tier)s is the entry tier (the lowest rank), which every member starts on: its threshold must be 0.")
            % {"tier": entry.name or entry.code},
            field="threshold",
        )
    highest: dict[tuple, Tier] = {}
    for tier in ordered:
        measure = (tier.metric, tier.window, tier.window_months)
        lower = highest.get(measure)
        if lower is not None and tier.threshold <= lower.threshold:
            raise InvalidInput(
                _("%(tier)s (rank %(rank)s) needs a higher threshold than %(lower)s (rank %(lower_rank)s), %(value)s.")
                % {
                    "tier": tier.name or tier.code,
                    "rank": tier.rank,
                    "lower": lower.name or lower.code,
                    "lower_rank": lower.rank,
                    "value": lower.threshold,
                },
                field="threshold",
            )
        highest[measure] = tier


def tiers_check(*, program: Program, tiers: Sequence[Tier] = (), deleted: Sequence[Tier] = ()) -> None:
    """Check the program's tiers as they would be with ``tiers`` created or changed and ``deleted`` gone."""
    deleted_ids = {tier.pk for tier in deleted if tier.pk is not None}
    if deleted_ids & {tier.pk for tier in tiers}:
        raise InvalidInput(_("A tier cannot be both changed and deleted."), field="tiers")
    after = {}
    if program.pk is not None:
        after = {tier.pk: tier for tier in Tier.objects.filter(program=program).exclude(pk__in=deleted_ids)}
    for tier in tiers:
        after[tier.pk if tier.pk is not None else id(tier)] = tier
    tiers_validate(after.values())


@transaction.atomic
def tiers_save(*, program: Program, tiers: Sequence[Tier] = (), deleted: Sequence[Tier] = ()) -> list[Tier]:
    """Create, change or delete some of a program's tiers together, checked as a whole first.

    Every process prices its next credit with the new tiers: the program's version moves with them.
    """
    # Serialises tier changes of one program, so two editors cannot each pass the check against the old tiers.
    Program.objects.select_for_update().filter(pk=program.pk).values_list("pk").get()
    for tier in tiers:
        tier.program = program
    tiers_check(program=program, tiers=tiers, deleted=deleted)
    deleted_ids = [tier.pk for tier in deleted if tier.pk is not None]
    if deleted_ids:
        try:
            with transaction.atomic():
                Tier.objects.filter(pk__in=deleted_ids).delete()
        except ProtectedError as error:
            raise InvalidInput(
                _("A tier that members hold or have held cannot be deleted: their accounts and history refer to it."),
                field="tiers",
            ) from error
    for tier in tiers:
        try:
            with transaction.atomic():
                tier.save()
        except IntegrityError as error:
            raise InvalidInput(
                _("Another tier of this program already has rank %(rank)s or code %(code)s.")
                % {"rank": tier.rank, "code": tier.code},
                field="rank",
            ) from error
    Program.objects.filter(pk=program.pk).update(updated_at=timezone.now())
    return list(tiers)


def program_validate(program: Program) -> None:
    """Check a program's settings, including that a new negative-balance policy fits every account's balance."""
    try:
        zoneinfo.ZoneInfo(program.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
        raise InvalidInput(
            _("%(zone)s is not a known time zone.") % {"zone": program.timezone}, field="timezone"
        ) from error
    if not (len(program.currency) == 3 and program.currency.isascii() and program.currency.isupper()):
        raise InvalidInput(_("currency must be a three-letter ISO 4217 code."), field="currency")
    if program.pk is None:
        return
    policy = program.negative_balance_policy
    accounts = PointAccount.objects.filter(program=program)
    if policy == Program.NegativeBalancePolicy.FORBID:
        below = accounts.filter(available__lt=0).count()
    elif policy == Program.NegativeBalancePolicy.WITHIN_PENDING:
        below = accounts.filter(available__lt=-F("pending")).count()
    else:
        below = 0
    if below:
        raise InvalidInput(
            _("%(count)s accounts are below zero beyond what this policy allows; settle them first.")
            % {"count": below},
            field="negative_balance_policy",
        )


@transaction.atomic
def program_save(*, program: Program) -> Program:
    """Create or change a program; its negative-balance policy is copied onto every account at once."""
    program_validate(program)
    program.save()
    PointAccount.objects.filter(program=program).exclude(
        negative_balance_policy=program.negative_balance_policy
    ).update(negative_balance_policy=program.negative_balance_policy)
    return program
