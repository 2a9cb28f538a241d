"""Undoing a committed batch: a reversal entry for every entry the batch wrote, then removing its members.

This is a set-based twin of ``loyalty.services.entry_reverse`` for the common case, and defers to that service
for the rest, in one transaction:

- a debit (history spend) not yet reversed and fully backed by lots gives back exactly the allocations it took;
- a credit not yet reversed whose lots are untouched (remaining = points, active) takes back its lots' points;
- every other entry of the batch (lots spent or expired since, partial reversals, accounts owing points) goes
  through ``entry_reverse`` one by one, so the ledger rules live in one place.

Debits are reversed before credits, so a history's earns find their lots restored by its own spends first.
Members the batch created cannot be deleted once they have ledger entries (append-only ledger, PROTECT), so
"removing" one that has no other activity means: deleted outright if it never got an entry, otherwise erased —
personal fields cleared, blocked, and its external id freed (renamed) so a corrected file can be imported again.
"""

from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext as _

from loyalty import services as ledger
from loyalty.errors import InsufficientPoints
from loyalty.legacy_import import sqlparts
from loyalty.legacy_import.errors import ImportUndoBlocked
from loyalty.models import EntryKind, ImportBatch, LedgerEntry, SourceType

_BATCH_ENTRIES = """
    e.source_type = 'import' AND e.source_id = %(batch_text)s AND e.kind <> 'reverse'
    AND NOT EXISTS (SELECT 1 FROM loyalty_ledgerentry r WHERE r.reverses_id = e.id)
"""


@dataclass
class UndoCounts:
    entries_reversed: int = 0
    points_reversed: int = 0
    members_removed: int = 0


def undo_batch(*, batch: ImportBatch, user, now) -> UndoCounts:
    reason = _("Undo of import #%(batch)s") % {"batch": batch.pk}
    params = {"batch": batch.pk, "batch_text": str(batch.pk), "now": now, "user": getattr(user, "pk", None)}
    params["reason"] = reason
    entry_columns, entry_values = sqlparts.insert_columns(
        LedgerEntry,
        {
            "account_id": "x.account_id",
            "kind": "'reverse'",
            "points": "-x.points",
            "effective_at": "%(now)s",
            "created_at": "%(now)s",
            "source_type": "'import'",
            "source_id": "%(batch_text)s",
            "created_by_id": "%(user)s",
            "external_reference": "NULL",
            "reverses_id": "x.id",
            "reason": "%(reason)s",
        },
        params,
        "rev",
    )
    counts = UndoCounts()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT a.id, a.available FROM loyalty_pointaccount a
            WHERE a.id IN (SELECT e.account_id FROM loyalty_ledgerentry e WHERE {_BATCH_ENTRIES})
            ORDER BY a.id FOR UPDATE
            """,
            params,
        )
        params["owing"] = [account_id for account_id, available in cursor.fetchall() if available < 0]
        for statement in (_restore_debits_sql(entry_columns, entry_values),
                          _take_back_credits_sql(entry_columns, entry_values)):  # fmt: skip
            cursor.execute(statement, params)
            entries, points = cursor.fetchone()
            counts.entries_reversed += entries
            counts.points_reversed += points
        cursor.execute(f"SELECT e.id FROM loyalty_ledgerentry e WHERE {_BATCH_ENTRIES} ORDER BY e.points, e.id", params)
        leftovers = [row[0] for row in cursor.fetchall()]
    source = ledger.Source(SourceType.IMPORT, str(batch.pk), user)
    for entry in (
        LedgerEntry.objects.filter(pk__in=leftovers).select_related("account__member").order_by("points", "pk")
    ):
        try:
            reversal = ledger.entry_reverse(entry=entry, source=source, reason=reason)
        except InsufficientPoints as error:
            raise ImportUndoBlocked(
                _("Member %(member)s has since spent imported points and has too few left to give them back: "
                  "%(reason)s") % {"member": entry.account.member.external_id, "reason": error.message},
                field="batch",
            ) from error  # fmt: skip
        counts.entries_reversed += 1
        counts.points_reversed += -reversal.points
    counts.members_removed = _remove_members(batch, params)
    return counts


def _restore_debits_sql(columns: str, values: str) -> str:
    return f"""
        WITH x AS (
            SELECT e.id, e.account_id, e.points FROM loyalty_ledgerentry e
            WHERE {_BATCH_ENTRIES} AND e.points < 0 AND e.kind = '{EntryKind.REDEEM}'
              AND NOT (e.account_id = ANY(%(owing)s))
              AND e.points = (SELECT COALESCE(sum(a.points), 0) FROM loyalty_lotallocation a WHERE a.entry_id = e.id)
        ), reversed AS (
            INSERT INTO loyalty_ledgerentry ({columns}) SELECT {values} FROM x ORDER BY x.id
            RETURNING id, reverses_id, account_id, points
        ), given AS (
            SELECT reversed.id AS entry_id, a.lot_id, -a.points AS points
            FROM reversed JOIN loyalty_lotallocation a ON a.entry_id = reversed.reverses_id
        ), allocations AS (
            INSERT INTO loyalty_lotallocation (entry_id, lot_id, points) SELECT entry_id, lot_id, points FROM given
        ), lots AS (
            UPDATE loyalty_pointlot l SET remaining = l.remaining + t.points
            FROM (SELECT lot_id, sum(points) AS points FROM given GROUP BY lot_id) t WHERE l.id = t.lot_id
        ), accounts AS (
            UPDATE loyalty_pointaccount a
            SET available = a.available + t.points, lifetime_spent = a.lifetime_spent - t.points
            FROM (SELECT account_id, sum(points) AS points FROM reversed GROUP BY account_id) t
            WHERE a.id = t.account_id
        )
        SELECT count(*), COALESCE(-sum(points), 0)::bigint FROM reversed
    """


def _take_back_credits_sql(columns: str, values: str) -> str:
    return f"""
        WITH x AS (
            SELECT e.id, e.account_id, e.points FROM loyalty_ledgerentry e
            WHERE {_BATCH_ENTRIES} AND e.points > 0 AND e.kind IN ('{EntryKind.IMPORT}', '{EntryKind.EARN}')
              AND NOT (e.account_id = ANY(%(owing)s))
              AND EXISTS (SELECT 1 FROM loyalty_pointlot l WHERE l.entry_id = e.id)
              AND NOT EXISTS (SELECT 1 FROM loyalty_pointlot l WHERE l.entry_id = e.id
                              AND (l.remaining <> l.points OR l.activated_at IS NULL))
        ), reversed AS (
            INSERT INTO loyalty_ledgerentry ({columns}) SELECT {values} FROM x ORDER BY x.id
            RETURNING id, reverses_id, account_id, points
        ), allocations AS (
            INSERT INTO loyalty_lotallocation (entry_id, lot_id, points)
            SELECT reversed.id, l.id, -l.remaining
            FROM reversed JOIN loyalty_pointlot l ON l.entry_id = reversed.reverses_id
        ), lots AS (
            UPDATE loyalty_pointlot l SET remaining = 0 FROM reversed WHERE l.entry_id = reversed.reverses_id
        ), accounts AS (
            UPDATE loyalty_pointaccount a
            SET available = a.available + t.points, lifetime_earned = a.lifetime_earned + t.points
            FROM (SELECT account_id, sum(points) AS points FROM reversed GROUP BY account_id) t
            WHERE a.id = t.account_id
        )
        SELECT count(*), COALESCE(-sum(points), 0)::bigint FROM reversed
    """


def _remove_members(batch: ImportBatch, params: dict) -> int:
    """Delete or erase the members this batch created that have done nothing outside it."""
    params = {**params, "removed": _("Removed by undoing import #%(batch)s") % {"batch": batch.pk}}
    candidates = f"""
        SELECT im.member_id FROM loyalty_importedmember im
        WHERE im.batch_id = %(batch)s
          AND NOT EXISTS (SELECT 1 FROM loyalty_pointaccount a JOIN loyalty_ledgerentry e ON e.account_id = a.id
                          WHERE a.member_id = im.member_id
                            AND NOT (e.source_type = 'import' AND e.source_id = %(batch_text)s))
          AND NOT EXISTS (SELECT 1 FROM loyalty_pointaccount a WHERE a.member_id = im.member_id
                            AND a.program_id <> {int(batch.program_id)})
    """
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE undo_members ON COMMIT DROP AS {candidates}", params)
        cursor.execute(
            """
            ALTER TABLE undo_members ADD COLUMN has_entries boolean;
            UPDATE undo_members u SET has_entries = EXISTS (
                SELECT 1 FROM loyalty_pointaccount a JOIN loyalty_ledgerentry e ON e.account_id = a.id
                WHERE a.member_id = u.member_id)
            """
        )
        try:
            with transaction.atomic():
                cursor.execute(
                    """
                    WITH gone AS (SELECT member_id FROM undo_members WHERE NOT has_entries),
                    accounts AS (SELECT id FROM loyalty_pointaccount WHERE member_id IN (SELECT member_id FROM gone)),
                    changes AS (DELETE FROM loyalty_tierchange WHERE account_id IN (SELECT id FROM accounts))
                    SELECT 1
                    """
                )
                cursor.execute(
                    "DELETE FROM loyalty_pointaccount WHERE member_id IN "
                    "(SELECT member_id FROM undo_members WHERE NOT has_entries)"
                )
                cursor.execute(
                    "DELETE FROM members_member WHERE id IN (SELECT member_id FROM undo_members WHERE NOT has_entries)"
                )
        except IntegrityError:
            # Something else now refers to one of them (a consent, a note...): erase instead of deleting.
            cursor.execute("UPDATE undo_members SET has_entries = true")
        cursor.execute(
            """
            UPDATE members_member m SET external_id = 'removed-' || %(batch_text)s || '-' || m.id,
                email = '', phone = '', first_name = '', last_name = '', birth_date = NULL, gender = '',
                city = '', region = '', country = '', status = 'blocked', blocked_reason = %(removed)s,
                updated_at = %(now)s
            FROM undo_members u WHERE u.member_id = m.id AND u.has_entries
            """,
            params,
        )
        cursor.execute("SELECT count(*) FROM undo_members")
        removed = cursor.fetchone()[0]
        cursor.execute("DROP TABLE undo_members")
    return removed
