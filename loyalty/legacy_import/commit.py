"""Writing one chunk of a validated batch: members, accounts, entries, lots, allocations and balances.

Called inside the chunk's transaction. Statements touch only the chunk's rows (the rows table is indexed by
chunk); accounts that existed before the import are locked first, in primary-key order like every ledger
writer, so the import never deadlocks a service. Accounts the chunk opens get their balances in the INSERT
itself (the sum of their valid rows), which spares a second write of every new account; accounts that existed
get a conditional UPDATE.
"""

from dataclasses import dataclass

from django.db import connection
from django.utils.translation import gettext as _

from config.errors import DomainError
from loyalty.legacy_import import sqlparts
from loyalty.legacy_import.staging import rows_table
from loyalty.models import (
    ImportBatch,
    ImportKind,
    LedgerEntry,
    PointAccount,
    PointLot,
    Program,
    Tier,
    TierChange,
)
from members.models import Member


class AccountOwesPoints(DomainError):
    code = "account_owes_points"


@dataclass
class ChunkCounts:
    members_created: int = 0
    members_updated: int = 0
    accounts_created: int = 0
    entries_created: int = 0
    points_imported: int = 0


@dataclass
class CommitContext:
    batch: ImportBatch
    program: Program
    now: object
    member_mode: str

    @property
    def rows(self) -> str:
        return rows_table(self.batch.pk)

    def params(self, chunk: int) -> dict:
        entry_tier = Tier.objects.filter(program=self.program).order_by("rank").values_list("pk", flat=True).first()
        return {
            "batch": self.batch.pk,
            "batch_text": str(self.batch.pk),
            "program": self.program.pk,
            "chunk": chunk,
            "now": self.now,
            "user": self.batch.committed_by_id,
            "entry_tier": entry_tier,
            "policy": self.program.negative_balance_policy,
            "currency": self.program.currency,
            "blocked_reason": _("Blocked in the legacy system (import #%(batch)s).") % {"batch": self.batch.pk},
            "note": _("Import #%(batch)s") % {"batch": self.batch.pk},
            "tz": self.program.timezone,
        }


def commit_chunk(context: CommitContext, chunk: int) -> ChunkCounts:
    params = context.params(chunk)
    if context.batch.kind == ImportKind.BALANCES:
        return _commit_balances(context, params)
    return _commit_history(context, params)


def _commit_history(context: CommitContext, params: dict) -> ChunkCounts:
    """Several rows per member: members and accounts first (ids come back by RETURNING), then the entries."""
    counts = ChunkCounts()
    with connection.cursor() as cursor:
        _lock_existing_accounts(cursor, context.rows, params)
        counts.members_created = _insert_members(cursor, context.rows, params)
        counts.accounts_created = _insert_accounts(cursor, context.rows, params)
        counts.entries_created, counts.points_imported = _insert_history(cursor, context, params)
    return counts


def _commit_balances(context: CommitContext, params: dict) -> ChunkCounts:
    """One row, one member: ids are drawn from the sequences up front, so each table is one plain INSERT."""
    rows = context.rows
    counts = ChunkCounts()
    chunk_rows = f"{rows} r WHERE r.chunk = %(chunk)s AND r.ok"
    with connection.cursor() as cursor:
        _lock_existing_accounts(cursor, rows, params)
        columns, values = sqlparts.insert_columns(Member, {"id": "r.new_member_id", **_MEMBER_VALUES}, params, "member")
        cursor.execute(
            f"INSERT INTO members_member ({columns}) SELECT {values} FROM {chunk_rows} AND NOT r.had_member "
            f"ORDER BY r.seq",
            params,
        )
        counts.members_created = cursor.rowcount
        cursor.execute(
            f"INSERT INTO loyalty_importedmember (batch_id, member_id) "
            f"SELECT %(batch)s, r.new_member_id FROM {chunk_rows} AND NOT r.had_member",
            params,
        )
        if context.member_mode == "update":
            counts.members_updated = _update_members(cursor, rows, params)
        columns, values = sqlparts.insert_columns(
            PointAccount,
            {
                **_account_values(
                    "r.tier_id", "r.points", "r.points", "0", "CASE WHEN r.points > 0 THEN r.effective_at END"
                ),
                "id": "r.new_account_id",
                "member_id": "COALESCE(r.member_id, r.new_member_id)",
            },
            params,
            "account",
        )
        cursor.execute(
            f"INSERT INTO loyalty_pointaccount ({columns}) SELECT {values} FROM {chunk_rows} AND NOT r.had_account "
            f"ORDER BY r.seq",
            params,
        )
        counts.accounts_created = cursor.rowcount
        columns, values = _tier_change_columns(params, "r.new_account_id", "COALESCE(r.tier_id, %(entry_tier)s)")
        cursor.execute(
            f"INSERT INTO loyalty_tierchange ({columns}) SELECT {values} FROM {chunk_rows} AND NOT r.had_account "
            f"AND COALESCE(r.tier_id, %(entry_tier)s) IS NOT NULL",
            params,
        )
        if context.member_mode == "update":
            _move_tiers(cursor, rows, params)
        columns, values = _entry_columns(
            params,
            {
                "id": "src.new_entry_id",
                "account_id": "COALESCE(src.account_id, src.new_account_id)",
                "kind": "'import'",
                "points": "src.points",
                "external_reference": "'opening:' || src.external_id",
                "reason": "%(note)s",
            },
        )
        with_entry = f"{rows} src WHERE src.chunk = %(chunk)s AND src.ok AND src.new_entry_id IS NOT NULL"
        cursor.execute(
            f"INSERT INTO loyalty_ledgerentry ({columns}) SELECT {values} FROM {with_entry} ORDER BY src.new_entry_id",
            params,
        )
        counts.entries_created = cursor.rowcount
        columns, values = _lot_columns(params, "src.expires_at", entry="src")
        cursor.execute(f"INSERT INTO loyalty_pointlot ({columns}) SELECT {values} FROM {with_entry}", params)
        cursor.execute(
            f"""
            WITH entered AS (
                SELECT src.account_id, src.points, src.effective_at, NOT src.had_account AS preset FROM {with_entry}
            ), updated AS ({_UPDATE_EXISTING_BALANCES})
            SELECT COALESCE(sum(points), 0)::bigint FROM entered
            """,
            params,
        )
        counts.points_imported = cursor.fetchone()[0]
    return counts


_MEMBER_VALUES = {
    "external_id": "r.external_id",
    "email": "COALESCE(r.email, '')",
    "phone": "COALESCE(r.phone, '')",
    "first_name": "COALESCE(r.first_name, '')",
    "last_name": "COALESCE(r.last_name, '')",
    "birth_date": "r.birth_date",
    "country": "COALESCE(r.country, '')",
    "preferred_language": "COALESCE(r.language, 'en')",
    "status": "COALESCE(r.status, 'active')",
    "blocked_reason": "CASE WHEN r.status = 'blocked' THEN %(blocked_reason)s ELSE '' END",
    "joined_at": "%(now)s",
    "enrollment_channel": "'import'",
    "created_at": "%(now)s",
    "updated_at": "%(now)s",
}


def _account_values(tier: str, available: str, earned: str, spent: str, last_activity: str) -> dict:
    return {
        "program_id": "%(program)s",
        "tier_id": f"COALESCE({tier}, %(entry_tier)s)",
        "tier_achieved_at": f"CASE WHEN COALESCE({tier}, %(entry_tier)s) IS NOT NULL THEN %(now)s END",
        "available": available,
        "pending": "0",
        "lifetime_earned": f"COALESCE({earned}, 0)",
        "lifetime_spent": f"COALESCE({spent}, 0)",
        "lifetime_expired": "0",
        "negative_balance_policy": "%(policy)s",
        "last_activity_at": last_activity,
        "created_at": "%(now)s",
    }


def _tier_change_columns(params: dict, account: str, tier: str) -> tuple[str, str]:
    return sqlparts.insert_columns(
        TierChange,
        {
            "account_id": account,
            "from_tier_id": "NULL",
            "to_tier_id": tier,
            "reason": f"CASE WHEN {tier} = %(entry_tier)s THEN '{TierChange.Reason.ENROLLED}' "
            f"ELSE '{TierChange.Reason.IMPORT}' END",
            "note": "%(note)s",
            "changed_by_id": "%(user)s",
            "changed_at": "%(now)s",
        },
        params,
        "change",
    )


def _lock_existing_accounts(cursor, rows: str, params: dict) -> None:
    cursor.execute(
        f"""
        SELECT a.id, a.available FROM loyalty_pointaccount a
        WHERE a.id IN (SELECT account_id FROM {rows} WHERE chunk = %(chunk)s AND ok AND had_account)
        ORDER BY a.id FOR UPDATE
        """,
        params,
    )
    owing = [account_id for account_id, available in cursor.fetchall() if available < 0]
    if owing:
        raise AccountOwesPoints(
            _("%(count)s account(s) came to owe points since the dry run (e.g. account %(id)s); run it again.")
            % {"count": len(owing), "id": owing[0]}
        )


def _insert_members(cursor, rows: str, params: dict) -> int:
    """History files name members only: missing ones are created bare, once each."""
    supplied = {key: _MEMBER_VALUES[key] for key in ("external_id", "joined_at", "enrollment_channel",
                                                     "created_at", "updated_at")}  # fmt: skip
    source = (
        f"(SELECT DISTINCT ON (external_id) * FROM {rows} "
        f"WHERE chunk = %(chunk)s AND ok AND member_id IS NULL ORDER BY external_id, seq) r"
    )
    columns, values = sqlparts.insert_columns(Member, supplied, params, "member")
    cursor.execute(
        f"""
        WITH created AS (
            INSERT INTO members_member ({columns})
            SELECT {values} FROM {source} ORDER BY r.seq
            RETURNING id, external_id
        ), linked AS (
            INSERT INTO loyalty_importedmember (batch_id, member_id) SELECT %(batch)s, id FROM created
        ), updated AS (
            UPDATE {rows} r SET member_id = created.id FROM created
            WHERE r.chunk = %(chunk)s AND r.external_id = created.external_id
        )
        SELECT count(*) FROM created
        """,
        params,
    )
    return cursor.fetchone()[0]


def _update_members(cursor, rows: str, params: dict) -> int:
    """Existing members take the file's non-empty values (the operator chose "update")."""
    assignments = {
        "email": "COALESCE(r.email, m.email)",
        "phone": "COALESCE(r.phone, m.phone)",
        "first_name": "COALESCE(r.first_name, m.first_name)",
        "last_name": "COALESCE(r.last_name, m.last_name)",
        "birth_date": "COALESCE(r.birth_date, m.birth_date)",
        "country": "COALESCE(r.country, m.country)",
        "preferred_language": "COALESCE(r.language, m.preferred_language)",
        "status": "COALESCE(r.status, m.status)",
    }
    changed = " OR ".join(f"m.{column} IS DISTINCT FROM {value}" for column, value in assignments.items())
    sets = ", ".join(f"{column} = {value}" for column, value in assignments.items())
    cursor.execute(
        f"""
        UPDATE members_member m SET {sets},
            blocked_reason = CASE WHEN r.status = 'blocked' AND m.status <> 'blocked' THEN %(blocked_reason)s
                                  WHEN r.status = 'active' THEN '' ELSE m.blocked_reason END,
            updated_at = %(now)s
        FROM {rows} r
        WHERE r.chunk = %(chunk)s AND r.ok AND r.had_member AND r.member_id = m.id AND ({changed})
        """,
        params,
    )
    return cursor.rowcount


def _insert_accounts(cursor, rows: str, params: dict) -> int:
    """Open missing accounts with their balances already summed from the member's valid rows."""
    supplied = {
        **_account_values("NULL::bigint", "t.available", "t.earned", "t.spent", "t.last_at"),
        "member_id": "t.member_id",
    }
    columns, values = sqlparts.insert_columns(PointAccount, supplied, params, "account")
    change_columns, change_values = _tier_change_columns(params, "opened.id", "opened.tier_id")
    cursor.execute(
        f"""
        WITH t AS (
            SELECT member_id, sum(points) AS available, sum(points) FILTER (WHERE points > 0) AS earned,
                   -sum(points) FILTER (WHERE points < 0) AS spent, max(effective_at) AS last_at, min(seq) AS seq
            FROM {rows} WHERE chunk = %(chunk)s AND ok AND account_id IS NULL GROUP BY member_id
        ), opened AS (
            INSERT INTO loyalty_pointaccount ({columns})
            SELECT {values} FROM t ORDER BY t.seq
            RETURNING id, member_id, tier_id
        ), changes AS (
            INSERT INTO loyalty_tierchange ({change_columns})
            SELECT {change_values} FROM opened WHERE opened.tier_id IS NOT NULL
        ), updated AS (
            UPDATE {rows} r SET account_id = opened.id, preset = true FROM opened
            WHERE r.chunk = %(chunk)s AND r.member_id = opened.member_id
        )
        SELECT count(*) FROM opened
        """,
        params,
    )
    return cursor.fetchone()[0]


def _move_tiers(cursor, rows: str, params: dict) -> None:
    columns, values = sqlparts.insert_columns(
        TierChange,
        {
            "account_id": "moved.id",
            "from_tier_id": "moved.from_tier",
            "to_tier_id": "moved.tier_id",
            "reason": f"'{TierChange.Reason.IMPORT}'",
            "note": "%(note)s",
            "changed_by_id": "%(user)s",
            "changed_at": "%(now)s",
        },
        params,
        "moved",
    )
    cursor.execute(
        f"""
        WITH moved AS (
            UPDATE loyalty_pointaccount a SET tier_id = x.tier_id, tier_achieved_at = %(now)s, tier_grace_until = NULL
            FROM (SELECT r.account_id, r.tier_id, a0.tier_id AS from_tier
                  FROM {rows} r JOIN loyalty_pointaccount a0 ON a0.id = r.account_id
                  WHERE r.chunk = %(chunk)s AND r.ok AND r.had_account AND r.tier_id IS NOT NULL
                    AND a0.tier_id IS DISTINCT FROM r.tier_id) x
            WHERE a.id = x.account_id
            RETURNING a.id, a.tier_id, x.from_tier
        )
        INSERT INTO loyalty_tierchange ({columns}) SELECT {values} FROM moved
        """,
        params,
    )


def _entry_columns(params: dict, supplied: dict) -> tuple[str, str]:
    base = {
        "account_id": "src.account_id",
        "effective_at": "src.effective_at",
        "created_at": "%(now)s",
        "source_type": "'import'",
        "source_id": "%(batch_text)s",
        "created_by_id": "%(user)s",
        "reverses_id": "NULL",
    }
    return sqlparts.insert_columns(LedgerEntry, {**base, **supplied}, params, "entry")


def _lot_columns(params: dict, expires: str, entry: str = "entered") -> tuple[str, str]:
    if entry == "entered":
        entry_id, account_id = "entered.id", "entered.account_id"
    else:
        entry_id, account_id = f"{entry}.new_entry_id", f"COALESCE({entry}.account_id, {entry}.new_account_id)"
    return sqlparts.insert_columns(
        PointLot,
        {
            "account_id": account_id,
            "entry_id": entry_id,
            "points": f"{entry}.points",
            "remaining": f"{entry}.points",
            "activates_at": f"{entry}.effective_at",
            "activated_at": "%(now)s",
            "expires_at": expires,
            "created_at": "%(now)s",
        },
        params,
        "lot",
    )


_UPDATE_EXISTING_BALANCES = """
    UPDATE loyalty_pointaccount a
    SET available = a.available + t.points,
        lifetime_earned = a.lifetime_earned + t.earned,
        lifetime_spent = a.lifetime_spent + t.spent,
        last_activity_at = GREATEST(a.last_activity_at, t.last_at)
    FROM (SELECT account_id, sum(points) AS points, COALESCE(sum(points) FILTER (WHERE points > 0), 0) AS earned,
                 COALESCE(-sum(points) FILTER (WHERE points < 0), 0) AS spent, max(effective_at) AS last_at
          FROM entered WHERE NOT preset GROUP BY account_id) t
    WHERE a.id = t.account_id
"""


def _insert_history(cursor, context: CommitContext, params: dict) -> tuple[int, int]:
    """Entries in date order, a lot per earn, then spends take lots soonest-expiring first (set-based)."""
    rows = context.rows
    entry_columns, entry_values = _entry_columns(
        params,
        {
            "kind": "CASE WHEN src.points > 0 THEN 'earn' ELSE 'redeem' END",
            "points": "src.points",
            "external_reference": "'history:' || src.reference",
            "spend_amount": "src.amount",
            "currency": "CASE WHEN src.amount IS NOT NULL THEN %(currency)s ELSE '' END",
            "reason": "COALESCE(src.description, '')",
        },
    )
    lot_columns, lot_values = _lot_columns(params, "entered.expires_at")
    cursor.execute(
        f"""
        WITH src AS (
            SELECT seq, account_id, points, effective_at, expires_at, reference, amount, description, preset
            FROM {rows} WHERE chunk = %(chunk)s AND ok
        ), inserted AS (
            INSERT INTO loyalty_ledgerentry ({entry_columns})
            SELECT {entry_values} FROM src ORDER BY src.effective_at, src.seq
            RETURNING id, account_id, points, effective_at, external_reference
        ), entered AS (
            SELECT inserted.*, src.preset, src.expires_at
            FROM inserted JOIN src ON 'history:' || src.reference = inserted.external_reference
        ), lots AS (
            INSERT INTO loyalty_pointlot ({lot_columns})
            SELECT {lot_values} FROM entered WHERE entered.points > 0
        ), balances AS ({_UPDATE_EXISTING_BALANCES})
        SELECT count(*), COALESCE(sum(points), 0)::bigint FROM entered
        """,
        params,
    )
    result = cursor.fetchone()
    cursor.execute(
        f"""
        WITH touched AS (
            SELECT DISTINCT account_id FROM {rows} WHERE chunk = %(chunk)s AND ok
        ), spends AS (
            SELECT e.id, e.account_id, -e.points AS points,
                   sum(-e.points) OVER (PARTITION BY e.account_id ORDER BY e.effective_at, e.id) AS upto
            FROM loyalty_ledgerentry e
            WHERE e.account_id IN (SELECT account_id FROM touched) AND e.source_type = 'import'
              AND e.source_id = %(batch_text)s AND e.kind = 'redeem'
        ), lots AS (
            SELECT l.id, l.account_id, l.remaining,
                   sum(l.remaining) OVER (PARTITION BY l.account_id ORDER BY l.expires_at NULLS LAST, l.id) AS upto
            FROM loyalty_pointlot l
            WHERE l.account_id IN (SELECT account_id FROM touched) AND l.activated_at IS NOT NULL AND l.remaining > 0
        ), taken AS (
            SELECT s.id AS entry_id, l.id AS lot_id,
                   LEAST(s.upto, l.upto) - GREATEST(s.upto - s.points, l.upto - l.remaining) AS points
            FROM spends s JOIN lots l ON l.account_id = s.account_id
            WHERE LEAST(s.upto, l.upto) > GREATEST(s.upto - s.points, l.upto - l.remaining)
        ), allocations AS (
            INSERT INTO loyalty_lotallocation (entry_id, lot_id, points) SELECT entry_id, lot_id, -points FROM taken
        )
        UPDATE loyalty_pointlot l SET remaining = l.remaining - t.points
        FROM (SELECT lot_id, sum(points) AS points FROM taken GROUP BY lot_id) t WHERE l.id = t.lot_id
        """,
        params,
    )
    return result
