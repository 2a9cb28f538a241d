"""Reads about the ledger that are more than a filter."""

import threading
import time
from dataclasses import dataclass

from django.db import connection
from django.utils.translation import gettext as _

from loyalty.errors import AccountNotFound
from loyalty.models import PointAccount, Program, Tier
from members.errors import MemberNotFound
from members.models import Member

# How long a process reuses a program's policy and tiers (see program_terms).
PROGRAM_TERMS_SECONDS = 30.0


@dataclass(frozen=True)
class _ProgramTerms:
    program: Program
    tiers: dict[int, Tier]
    loaded_at: float


_terms: dict[int, _ProgramTerms] = {}
_terms_lock = threading.Lock()


def program_terms(program_id: int, *, reload: bool = False) -> tuple[Program, dict[int, Tier]]:
    """The program and its tiers by id, as this process last read them (at most PROGRAM_TERMS_SECONDS ago).

    Writes read the earn rate, currency, pending days, expiry policy and tier multipliers on every request, and
    they change rarely. A points credit compares the program's ``updated_at`` under the account lock and calls
    again with ``reload`` when it changed, so its policies are never stale; tier multipliers may be, for up to
    PROGRAM_TERMS_SECONDS.
    """
    terms = _terms.get(program_id)
    if reload or terms is None or time.monotonic() - terms.loaded_at > PROGRAM_TERMS_SECONDS:
        program = Program.objects.get(pk=program_id)
        tiers = {tier.pk: tier for tier in Tier.objects.filter(program_id=program_id)}
        for tier in tiers.values():
            tier.program = program
        terms = _ProgramTerms(program, tiers, time.monotonic())
        with _terms_lock:
            _terms[program_id] = terms
    return terms.program, terms.tiers


RECONCILE_SQL = """
WITH scope AS (
    SELECT id, available, pending, lifetime_earned, lifetime_spent, lifetime_expired
    FROM loyalty_pointaccount
    WHERE (%(program)s::bigint IS NULL OR program_id = %(program)s)
      AND (%(account)s::bigint IS NULL OR id = %(account)s)
), entry_totals AS (
    SELECT e.account_id,
           SUM(e.points) AS total,
           SUM(CASE WHEN e.kind IN ('earn', 'import') OR (e.kind = 'adjust' AND e.points > 0)
                         OR (e.kind = 'reverse' AND (o.kind IN ('earn', 'import')
                                                     OR (o.kind = 'adjust' AND o.points > 0)))
                    THEN e.points ELSE 0 END) AS earned,
           SUM(CASE WHEN e.kind = 'redeem' OR (e.kind = 'adjust' AND e.points < 0)
                         OR (e.kind = 'reverse' AND (o.kind = 'redeem' OR (o.kind = 'adjust' AND o.points < 0)))
                    THEN -e.points ELSE 0 END) AS spent,
           SUM(CASE WHEN e.kind = 'expire' THEN -e.points ELSE 0 END) AS expired
    FROM loyalty_ledgerentry e
    LEFT JOIN loyalty_ledgerentry o ON o.id = e.reverses_id
    WHERE e.account_id IN (SELECT id FROM scope)
    GROUP BY e.account_id
), lot_totals AS (
    SELECT account_id,
           SUM(remaining) FILTER (WHERE activated_at IS NULL) AS pending,
           SUM(remaining) FILTER (WHERE activated_at IS NOT NULL) AS active
    FROM loyalty_pointlot
    WHERE account_id IN (SELECT id FROM scope)
    GROUP BY account_id
), lot_history AS (
    SELECT l.account_id, COUNT(*) AS broken_lots
    FROM loyalty_pointlot l
    LEFT JOIN (
        -- Scoped to the accounts checked: one account's check must not aggregate the whole allocation table.
        SELECT a.lot_id, SUM(a.points) AS moved
        FROM loyalty_lotallocation a JOIN loyalty_pointlot scoped ON scoped.id = a.lot_id
        WHERE scoped.account_id IN (SELECT id FROM scope)
        GROUP BY a.lot_id
    ) a ON a.lot_id = l.id
    WHERE l.account_id IN (SELECT id FROM scope) AND l.remaining <> l.points + COALESCE(a.moved, 0)
    GROUP BY l.account_id
), reversed AS (
    SELECT reverses_id AS entry_id, SUM(points) AS points
    FROM loyalty_ledgerentry WHERE reverses_id IS NOT NULL AND account_id IN (SELECT id FROM scope)
    GROUP BY reverses_id
), outstanding AS (
    SELECT CASE WHEN e.kind = 'reverse' AND e.points > 0 THEN e.reverses_id ELSE e.id END AS entry_id,
           -SUM(a.points) AS points
    FROM loyalty_lotallocation a JOIN loyalty_ledgerentry e ON e.id = a.entry_id
    WHERE e.account_id IN (SELECT id FROM scope)
    GROUP BY 1
), debt AS (
    SELECT e.account_id, SUM(-e.points - COALESCE(r.points, 0) - COALESCE(o.points, 0)) AS uncovered
    FROM loyalty_ledgerentry e
    LEFT JOIN reversed r ON r.entry_id = e.id
    LEFT JOIN outstanding o ON o.entry_id = e.id
    WHERE e.points < 0 AND e.account_id IN (SELECT id FROM scope)
    GROUP BY e.account_id
)
SELECT s.id, s.available, s.pending,
       COALESCE(t.total, 0), COALESCE(l.pending, 0), COALESCE(l.active, 0), COALESCE(d.uncovered, 0),
       s.lifetime_earned, COALESCE(t.earned, 0), s.lifetime_spent, COALESCE(t.spent, 0),
       s.lifetime_expired, COALESCE(t.expired, 0), COALESCE(h.broken_lots, 0)
FROM scope s
LEFT JOIN entry_totals t ON t.account_id = s.id
LEFT JOIN lot_totals l ON l.account_id = s.id
LEFT JOIN debt d ON d.account_id = s.id
LEFT JOIN lot_history h ON h.account_id = s.id
WHERE s.available + s.pending <> COALESCE(t.total, 0)
   OR s.pending <> COALESCE(l.pending, 0)
   OR s.available <> COALESCE(l.active, 0) - COALESCE(d.uncovered, 0)
   OR s.lifetime_earned <> COALESCE(t.earned, 0)
   OR s.lifetime_spent <> COALESCE(t.spent, 0)
   OR s.lifetime_expired <> COALESCE(t.expired, 0)
   OR COALESCE(h.broken_lots, 0) > 0
   OR COALESCE(d.uncovered, 0) < 0
   OR (COALESCE(l.active, 0) > 0 AND COALESCE(d.uncovered, 0) > 0)
ORDER BY s.id
"""


@dataclass(frozen=True)
class Discrepancy:
    account_id: int
    available: int
    pending: int
    entries_total: int
    pending_lots: int
    active_lots: int
    uncovered_debt: int
    lifetime_earned: int
    entries_earned: int
    lifetime_spent: int
    entries_spent: int
    lifetime_expired: int
    entries_expired: int
    lots_with_broken_history: int

    def describe(self) -> str:
        problems = []
        if self.available + self.pending != self.entries_total:
            problems.append(f"available+pending {self.available + self.pending} != sum of entries {self.entries_total}")
        if self.pending != self.pending_lots:
            problems.append(f"pending {self.pending} != pending lots {self.pending_lots}")
        if self.available != self.active_lots - self.uncovered_debt:
            problems.append(
                f"available {self.available} != active lots {self.active_lots} - debt {self.uncovered_debt}"
            )
        if self.lifetime_earned != self.entries_earned:
            problems.append(f"lifetime earned {self.lifetime_earned} != entries {self.entries_earned}")
        if self.lifetime_spent != self.entries_spent:
            problems.append(f"lifetime spent {self.lifetime_spent} != entries {self.entries_spent}")
        if self.lifetime_expired != self.entries_expired:
            problems.append(f"lifetime expired {self.lifetime_expired} != entries {self.entries_expired}")
        if self.lots_with_broken_history:
            problems.append(f"{self.lots_with_broken_history} lot(s) whose remaining != points + allocations")
        if self.uncovered_debt < 0:
            problems.append(f"lots gave back more than debits took ({self.uncovered_debt})")
        if self.active_lots > 0 and self.uncovered_debt > 0:
            problems.append(f"lots hold {self.active_lots} points while {self.uncovered_debt} are owed")
        return f"account {self.account_id}: " + "; ".join(problems)


def reconcile(*, program_id: int | None = None, account_id: int | None = None) -> list[Discrepancy]:
    """Every account whose cached balances differ from its entries and lots (empty when the ledger is sound)."""
    with connection.cursor() as cursor:
        cursor.execute(RECONCILE_SQL, {"program": program_id, "account": account_id})
        return [Discrepancy(*row) for row in cursor.fetchall()]


def account_for_member(*, program: Program, member_external_id: str) -> PointAccount:
    """The account of the member with this external id in ``program``, or a clear not-found error."""
    try:
        member = Member.objects.get(external_id=member_external_id)
    except Member.DoesNotExist as error:
        raise MemberNotFound(
            _("No member has external id '%(id)s'.") % {"id": member_external_id}, field="member"
        ) from error
    try:
        return PointAccount.objects.select_related("member", "program", "tier").get(member=member, program=program)
    except PointAccount.DoesNotExist as error:
        raise AccountNotFound(
            _("Member '%(id)s' is not enrolled in %(code)s.") % {"id": member_external_id, "code": program.code},
            field="member",
        ) from error
