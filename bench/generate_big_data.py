"""Generate a big, consistent dataset with COPY: members, accounts in one program with tiers, ledger entries,
their lots and lot allocations, and tier history.

Every account's history is simulated in order, as the services and the nightly jobs would have written it:
earns (each with a lot, pending for the program's 14 days, expiring at the end of the month twelve months
later), redemptions (taking active lots soonest-expiring first, recorded as allocations), reversals of recent
redemptions (giving back exactly the lots they took), staff adjustments, and nightly expiry (one entry per
account and night, taking the remaining points of the lapsed lots). Cached balances and tiers are those the
history gives, so ``reconcile`` is clean; it is checked on a random sample of accounts at the end.

Rows are streamed to PostgreSQL with ``COPY ... FROM STDIN``: members in one COPY, the ledger tables in chunks
of accounts (built by a producer thread while the previous chunk is being copied), never all in memory. The whole
load is one transaction, so an interrupted run leaves nothing behind, and a run finds an existing dataset of the
same size and stops (idempotent). Secondary indexes, unique and foreign-key constraints of the loaded tables are
dropped before the COPY and recreated (and so validated) afterwards, because checking foreign keys row by row at
commit is far slower (see docs/benchmarks.md); ``--keep-indexes`` loads with them in place. VACUUM ANALYZE ends.

    .venv/bin/python bench/generate_big_data.py                                  # 1M members, 10M entries
    .venv/bin/python bench/generate_big_data.py --members 10000 --entries 100000  # quick check
"""

import argparse
import datetime
import queue
import random
import sys
import threading
import time
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchenv

DAY = 86_400
PENDING_DAYS = 14
NIGHTLY_HOUR = 2
HISTORY_DAYS = 3 * 365
REVERSE_WINDOW = 30 * DAY
TIERS = [("base", "Base", 0, "1.00"), ("silver", "Silver", 5_000, "1.25"), ("gold", "Gold", 20_000, "1.50")]
REDEEM_AMOUNTS = [100, 100, 200, 250, 250, 500, 500, 1_000, 2_000, 5_000]
ADJUST_REASONS = ["Goodwill gesture", "Missed purchase added", "Duplicate credit corrected", "Service recovery"]
PARTNERS = [f"pos-{number:02d}" for number in range(1, 41)]
CAMPAIGNS = ["welcome-bonus", "double-points-weekend", "birthday"]

# name pools: (first names, last names, cities, country, language, region)
CULTURES = [
    (
        ["محمد", "أحمد", "فاطمة", "عائشة", "خالد", "مريم", "عمر", "نورة", "يوسف", "ليلى", "سارة", "علي"],
        ["الهاشمي", "المنصوري", "الكعبي", "الظاهري", "النعيمي", "الشامسي", "المهيري", "السويدي"],
        [("Dubai", "Dubai"), ("Abu Dhabi", "Abu Dhabi"), ("Sharjah", "Sharjah")],
        "AE",
        "ar",
        "971",
    ),
    (
        ["Ahmad", "Nur", "Siti", "Muhammad", "Aisyah", "Hafiz", "Farah", "Amirul", "Zulaikha", "Irfan"],
        ["bin Abdullah", "binti Ismail", "bin Hassan", "binti Rahman", "bin Yusof", "binti Osman"],
        [("Kuala Lumpur", "Wilayah Persekutuan"), ("Shah Alam", "Selangor"), ("George Town", "Pulau Pinang")],
        "MY",
        "ms",
        "60",
    ),
    (
        ["James", "Olivia", "Amelia", "Oliver", "Emily", "Harry", "Sophie", "Jack", "Grace", "Thomas"],
        ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Evans", "Davies"],
        [("London", "England"), ("Manchester", "England"), ("Edinburgh", "Scotland")],
        "GB",
        "en",
        "44",
    ),
]
GENDERS = ["female", "male", "male", "female", "other", "undisclosed", ""]
CHANNELS = ["pos", "pos", "pos", "web", "app", "app", "call_centre", "partner", "import"]

MEMBER_COLUMNS = [
    "id",
    "external_id",
    "email",
    "phone",
    "first_name",
    "last_name",
    "birth_date",
    "gender",
    "city",
    "region",
    "country",
    "preferred_language",
    "status",
    "blocked_reason",
    "joined_at",
    "enrollment_channel",
    "created_at",
    "updated_at",
]
ACCOUNT_COLUMNS = [
    "id",
    "member_id",
    "program_id",
    "tier_id",
    "tier_achieved_at",
    "tier_grace_until",
    "available",
    "pending",
    "lifetime_earned",
    "lifetime_spent",
    "lifetime_expired",
    "negative_balance_policy",
    "last_activity_at",
    "created_at",
]
ENTRY_COLUMNS = [
    "id",
    "account_id",
    "kind",
    "points",
    "effective_at",
    "created_at",
    "source_type",
    "source_id",
    "created_by_id",
    "external_reference",
    "reverses_id",
    "spend_amount",
    "currency",
    "reason",
    "metadata",
]
LOT_COLUMNS = [
    "id",
    "account_id",
    "entry_id",
    "points",
    "remaining",
    "activates_at",
    "activated_at",
    "expires_at",
    "expiry_warned_at",
    "created_at",
]
ALLOCATION_COLUMNS = ["entry_id", "lot_id", "points"]
TIER_CHANGE_COLUMNS = [
    "account_id",
    "from_tier_id",
    "to_tier_id",
    "reason",
    "metric_value",
    "note",
    "changed_by_id",
    "changed_at",
]
TABLES = {
    "members_member": MEMBER_COLUMNS,
    "loyalty_pointaccount": ACCOUNT_COLUMNS,
    "loyalty_ledgerentry": ENTRY_COLUMNS,
    "loyalty_pointlot": LOT_COLUMNS,
    "loyalty_lotallocation": ALLOCATION_COLUMNS,
    "loyalty_tierchange": TIER_CHANGE_COLUMNS,
}
LEDGER_TABLES = list(TABLES)[1:]


# --------------------------------------------------------------------------------------------------------------
# Timestamps: integer epoch seconds in the simulation, formatted for COPY with a per-day cache.


class Clock:
    def __init__(self, zone_offset: int) -> None:
        self.zone_offset = zone_offset
        self._days: dict[int, str] = {}

    def text(self, moment: int) -> str:
        day, second = divmod(moment, DAY)
        prefix = self._days.get(day)
        if prefix is None:
            date = datetime.datetime.fromtimestamp(day * DAY, tz=datetime.UTC)
            prefix = self._days[day] = date.strftime("%Y-%m-%d ")
        hour, rest = divmod(second, 3600)
        return f"{prefix}{hour:02d}:{rest // 60:02d}:{rest % 60:02d}+00"

    def next_nightly_run(self, moment: int) -> int:
        """The first nightly job run (at the program's local hour) at or after ``moment``."""
        local = moment + self.zone_offset
        run = local - local % DAY + NIGHTLY_HOUR * 3600
        if run < local:
            run += DAY
        return run - self.zone_offset


# --------------------------------------------------------------------------------------------------------------
# Members


def member_lines(first_id: int, count: int, joined: array, *, prefix: str, now: int, clock: Clock, seed: int):
    """Yield COPY text for ``count`` members in blocks of lines."""
    rng = random.Random(seed)
    now_text = clock.text(now)
    block = []
    for number in range(count):
        first_names, last_names, places, country, language, calling = CULTURES[rng.randrange(3)]
        first, last = rng.choice(first_names), rng.choice(last_names)
        city, region = rng.choice(places)
        serial = number + 1
        email = f"member{serial}.{rng.randrange(10_000)}@example.com" if rng.random() < 0.9 else ""
        phone = f"+{calling}5{rng.randrange(10**8):08d}" if rng.random() < 0.85 else ""
        birth = f"{rng.randint(1950, 2006)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        if rng.random() < 0.2:
            birth = "\\N"
        blocked = rng.random() < 0.01
        block.append(
            f"{first_id + number}\t{prefix}{serial:08d}\t{email}\t{phone}\t{first}\t{last}\t{birth}\t"
            f"{rng.choice(GENDERS)}\t{city}\t{region}\t{country}\t{language}\t"
            f"{'blocked' if blocked else 'active'}\t{'Fraud review' if blocked else ''}\t"
            f"{clock.text(joined[number])}\t{rng.choice(CHANNELS)}\t{now_text}\t{now_text}\n"
        )
        if len(block) == 10_000:
            yield "".join(block)
            block = []
    if block:
        yield "".join(block)


# --------------------------------------------------------------------------------------------------------------
# Ledger simulation

# Lot record slots (a list per lot, for speed): expires_at, id, remaining, points, entry_id, created, activates,
# activated (None while pending), position in the account's active list.
EXPIRES, LOT_ID, REMAINING, POINTS, ENTRY, CREATED, ACTIVATES, ACTIVATED, POSITION = range(9)


@dataclass
class Chunk:
    accounts: list[str] = field(default_factory=list)
    entries: list[str] = field(default_factory=list)
    lots: list[str] = field(default_factory=list)
    allocations: list[str] = field(default_factory=list)
    tier_changes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def tables(self) -> list[tuple[str, list[str]]]:
        return [
            ("loyalty_pointaccount", self.accounts),
            ("loyalty_ledgerentry", self.entries),
            ("loyalty_pointlot", self.lots),
            ("loyalty_lotallocation", self.allocations),
            ("loyalty_tierchange", self.tier_changes),
        ]


class LedgerSimulator:
    """Writes each account's history as the services and nightly jobs would have, into COPY text lines."""

    def __init__(
        self,
        *,
        ids: dict,
        program_id: int,
        tier_ids: list[int],
        staff_id: int,
        now: int,
        clock: Clock,
        expiry_of_local_day,
        seed: int,
    ) -> None:
        self.next_entry = ids["loyalty_ledgerentry"] + 1
        self.next_lot = ids["loyalty_pointlot"] + 1
        self.first_account = ids["loyalty_pointaccount"] + 1
        self.first_member = ids["members_member"] + 1
        self.program_id = program_id
        self.tier_ids = tier_ids
        self.staff_id = staff_id
        self.now = now
        self.clock = clock
        self.expiry_of_local_day = expiry_of_local_day
        self.expiry_cache: dict[int, int] = {}
        self.rng = random.Random(seed)

    def expires_at(self, moment: int) -> int:
        local_day = (moment + self.clock.zone_offset) // DAY
        expires = self.expiry_cache.get(local_day)
        if expires is None:
            expires = self.expiry_cache[local_day] = self.expiry_of_local_day(local_day)
        return expires

    def account(self, chunk: Chunk, number: int, joined: int, budget: int, member_prefix: str) -> None:
        """Simulate one account with exactly ``budget`` entries (fewer only if it has no time left)."""
        rng, text, now = self.rng, self.clock.text, self.now
        entries, allocations, tier_changes = chunk.entries, chunk.allocations, chunk.tier_changes
        account_id = self.first_account + number
        member_ref = f"{member_prefix}{number + 1:08d}"
        nightly = NIGHTLY_HOUR * 3600
        lots: list[list] = []
        pending: list[list] = []  # in activation order
        pending_head = 0
        active: list[list] = []  # sorted by (expires_at, id): lots activate in creation order
        head = 0  # active lots before this index are empty
        available = pending_points = earned = spent = expired = earn_metric = 0
        last_activity = joined
        tier_rank, tier_since = 0, joined
        last_redeem = None  # (entry_id, moment, points, [(lot, taken)], source_id)
        thresholds = [threshold for _, _, threshold, _ in TIERS]
        tier_changes.append(f"{account_id}\t\\N\t{self.tier_ids[0]}\tenrolled\t\\N\t\t\\N\t{text(joined)}\n")

        times = sorted(rng.randrange(joined, now) for _ in range(budget)) if now > joined else []
        times.append(now)  # the final catch-up of the nightly jobs; emits no activity
        for moment in times:
            # Nightly jobs due before this moment: activation first, then expiry.
            while pending_head < len(pending) and pending[pending_head][ACTIVATED] <= moment:
                lot = pending[pending_head]
                pending_head += 1
                pending_points -= lot[REMAINING]
                available += lot[REMAINING]
                lot[POSITION] = len(active)
                active.append(lot)
            while budget and head < len(active) and active[head][EXPIRES] + nightly <= moment:
                lapse = active[head][EXPIRES]
                run = lapse + nightly
                entry_id = self.next_entry
                total = 0
                index = head
                while index < len(active) and active[index][EXPIRES] == lapse:
                    lot = active[index]
                    if lot[REMAINING]:
                        allocations.append(f"{entry_id}\t{lot[LOT_ID]}\t{-lot[REMAINING]}\n")
                        total += lot[REMAINING]
                        lot[REMAINING] = 0
                    index += 1
                head = index
                if total:
                    self.next_entry += 1
                    budget -= 1
                    available -= total
                    expired += total
                    stamp = text(run)
                    entries.append(
                        f"{entry_id}\t{account_id}\texpire\t{-total}\t{stamp}\t{stamp}\tsystem\tlots_expire_due\t"
                        f"\\N\t\\N\t\\N\t\\N\t\t\t{{}}\n"
                    )
            if not budget or moment == now:
                break
            while head < len(active) and not active[head][REMAINING]:
                head += 1

            stamp = text(moment)
            entry_id = self.next_entry
            self.next_entry += 1
            budget -= 1
            roll = rng.random()
            kind = "earn"
            if roll < 0.30:
                kind = "redeem" if available >= 50 else "earn"
            elif roll < 0.32:
                if (
                    last_redeem is not None
                    and moment - last_redeem[1] < REVERSE_WINDOW
                    and all(lot[EXPIRES] + nightly > moment for lot, _ in last_redeem[3])
                ):
                    kind = "reverse"
            elif roll < 0.35:
                kind = "take" if available >= 10 and rng.random() < 0.3 else "give"

            if kind == "redeem":
                points = min(available, rng.choice(REDEEM_AMOUNTS))
                taken = []
                needed = points
                index = head
                while needed:
                    lot = active[index]
                    if lot[REMAINING]:
                        take = min(needed, lot[REMAINING])
                        lot[REMAINING] -= take
                        needed -= take
                        taken.append((lot, take))
                        allocations.append(f"{entry_id}\t{lot[LOT_ID]}\t{-take}\n")
                    index += 1
                available -= points
                spent += points
                last_activity = moment
                if rng.random() < 0.6:
                    source, source_id, reference = "partner", rng.choice(PARTNERS), f"RD{entry_id:010d}"
                else:
                    source, source_id, reference = "member", member_ref, "\\N"
                last_redeem = (entry_id, moment, points, taken, source, source_id)
                entries.append(
                    f"{entry_id}\t{account_id}\tredeem\t{-points}\t{stamp}\t{stamp}\t{source}\t{source_id}\t\\N\t"
                    f"{reference}\t\\N\t\\N\t\t\t{{}}\n"
                )
                continue
            if kind == "reverse":
                redeem_id, _, points, taken, source, source_id = last_redeem
                last_redeem = None
                # Latest-expiring lots first, as entry_reverse gives them back.
                for lot, take in sorted(taken, key=lambda pair: (pair[0][EXPIRES], pair[0][LOT_ID]), reverse=True):
                    lot[REMAINING] += take
                    head = min(head, lot[POSITION])
                    allocations.append(f"{entry_id}\t{lot[LOT_ID]}\t{take}\n")
                available += points
                spent -= points
                entries.append(
                    f"{entry_id}\t{account_id}\treverse\t{points}\t{stamp}\t{stamp}\t{source}\t{source_id}\t\\N\t"
                    f"\\N\t{redeem_id}\t\\N\t\t{'Order returned'}\t{{}}\n"
                )
                continue
            if kind == "take":
                points = min(available, rng.randint(10, 500))
                needed = points
                index = head
                while needed:
                    lot = active[index]
                    if lot[REMAINING]:
                        take = min(needed, lot[REMAINING])
                        lot[REMAINING] -= take
                        needed -= take
                        allocations.append(f"{entry_id}\t{lot[LOT_ID]}\t{-take}\n")
                    index += 1
                available -= points
                spent += points
                last_activity = moment
                entries.append(
                    f"{entry_id}\t{account_id}\tadjust\t{-points}\t{stamp}\t{stamp}\tstaff\t{self.staff_id}\t"
                    f"{self.staff_id}\t\\N\t\\N\t\\N\t\t{rng.choice(ADJUST_REASONS)}\t{{}}\n"
                )
                continue

            # A credit: an earn, or now and then a positive staff adjustment.
            if kind == "give":
                points = rng.randint(10, 1_000)
                entries.append(
                    f"{entry_id}\t{account_id}\tadjust\t{points}\t{stamp}\t{stamp}\tstaff\t{self.staff_id}\t"
                    f"{self.staff_id}\t\\N\t\\N\t\\N\t\t{rng.choice(ADJUST_REASONS)}\t{{}}\n"
                )
            else:
                points = max(1, min(50_000, int(rng.lognormvariate(5.0, 0.8))))
                if rng.random() < 0.85:
                    source, source_id, reference = "partner", rng.choice(PARTNERS), f"TX{entry_id:010d}"
                else:
                    source, source_id, reference = "campaign", rng.choice(CAMPAIGNS), "\\N"
                entries.append(
                    f"{entry_id}\t{account_id}\tearn\t{points}\t{stamp}\t{stamp}\t{source}\t{source_id}\t\\N\t"
                    f"{reference}\t\\N\t{points}.00\tAED\t\t{{}}\n"
                )
                earn_metric += points
                while tier_rank + 1 < len(thresholds) and earn_metric >= thresholds[tier_rank + 1]:
                    tier_changes.append(
                        f"{account_id}\t{self.tier_ids[tier_rank]}\t{self.tier_ids[tier_rank + 1]}\tupgrade\t"
                        f"{earn_metric}.00\t\t\\N\t{stamp}\n"
                    )
                    tier_rank += 1
                    tier_since = moment
            earned += points
            last_activity = moment
            activates = moment + PENDING_DAYS * DAY
            activated = self.clock.next_nightly_run(activates)
            lot = [self.expires_at(moment), self.next_lot, points, points, entry_id, moment, activates, activated, -1]
            self.next_lot += 1
            lots.append(lot)
            pending.append(lot)
            pending_points += points

        # Activation writes no entry, so it catches up to now even when the entry budget ran out first.
        while pending_head < len(pending) and pending[pending_head][ACTIVATED] <= now:
            lot = pending[pending_head]
            pending_head += 1
            pending_points -= lot[REMAINING]
            available += lot[REMAINING]
        for lot in lots:
            activated = lot[ACTIVATED]
            activated_text = text(activated) if activated <= now else "\\N"
            lots_line = (
                f"{lot[LOT_ID]}\t{account_id}\t{lot[ENTRY]}\t{lot[POINTS]}\t{lot[REMAINING]}\t{text(lot[ACTIVATES])}\t"
                f"{activated_text}\t{text(lot[EXPIRES])}\t\\N\t{text(lot[CREATED])}\n"
            )
            chunk.lots.append(lots_line)
        chunk.accounts.append(
            f"{account_id}\t{self.first_member + number}\t{self.program_id}\t{self.tier_ids[tier_rank]}\t"
            f"{text(tier_since)}\t\\N\t{available}\t{pending_points}\t{earned}\t{spent}\t{expired}\tforbid\t"
            f"{text(last_activity)}\t{text(joined)}\n"
        )


def entry_budgets(*, joined: array, now: int, entries: int, heavy: int, seed: int):
    """Entries per account, ``entries`` in all: ``heavy`` for the first account; for the others an exponential
    spread whose mean is in proportion to the member's time in the program, so a member's activity per day does
    not depend on when they joined (and the last days are not crowded with the newest members' whole history).
    """
    rng = random.Random(seed)
    accounts = len(joined)
    heavy = entries if accounts == 1 else min(heavy, entries)
    remaining = entries - heavy
    tenure_left = sum(now - moment for moment in joined) - (now - joined[0])
    yield heavy
    for number in range(1, accounts):
        if number == accounts - 1:
            yield remaining
            return
        tenure = now - joined[number]
        mean = remaining * tenure / tenure_left if tenure_left > 0 else 0
        tenure_left -= tenure
        count = min(remaining, round(rng.expovariate(1 / mean))) if mean > 0 else 0
        remaining -= count
        yield count


# --------------------------------------------------------------------------------------------------------------
# Database helpers


@dataclass
class Stats:
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    copy_seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(TABLES, 0.0))


def copy_text(cursor, table: str, text: str | Iterable[str], stats: Stats) -> None:
    columns = ", ".join(TABLES[table])
    started = time.perf_counter()
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        if isinstance(text, str):
            copy.write(text)
        else:
            for block in text:
                copy.write(block)
    stats.copy_seconds[table] += time.perf_counter() - started


def check_columns(cursor) -> None:
    """Fail clearly if the schema gained a required column this generator does not fill."""
    cursor.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = ANY(%s) AND is_nullable = 'NO' "
        "AND column_default IS NULL AND is_identity = 'NO'",
        [list(TABLES)],
    )
    missing = [f"{table}.{column}" for table, column in cursor.fetchall() if column not in TABLES[table]]
    if missing:
        raise SystemExit(f"the schema has required columns this generator does not fill: {', '.join(missing)}")


EXPLICIT_IDS = ["members_member", "loyalty_pointaccount", "loyalty_ledgerentry", "loyalty_pointlot"]


def reserve_ids(cursor) -> dict[str, int]:
    """Lock the tables against other writers (until commit); return the last id in use of each table given ids."""
    cursor.execute(f"LOCK TABLE {', '.join(TABLES)} IN SHARE ROW EXCLUSIVE MODE")
    last = {}
    for table in EXPLICIT_IDS:
        cursor.execute(f"SELECT pg_get_serial_sequence('{table}', 'id')")
        sequence = cursor.fetchone()[0]
        cursor.execute(f"SELECT GREATEST((SELECT COALESCE(MAX(id), 0) FROM {table}), last_value) FROM {sequence}")
        last[table] = cursor.fetchone()[0]
    return last


def advance_sequences(cursor, last_used: dict[str, int]) -> None:
    for table, value in last_used.items():
        cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), %s)", [value])


def secondary_structures(cursor) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """(table, name, definition) of unique and foreign-key constraints, (name, definition) of other indexes."""
    tables = list(TABLES)
    cursor.execute(
        "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid), c.contype "
        "FROM pg_constraint c WHERE c.conrelid = ANY(%s::regclass[]) AND c.contype IN ('u', 'f') "
        "ORDER BY c.contype DESC, c.conname",
        [tables],
    )
    constraints = [(table, name, definition) for table, name, definition, _ in cursor.fetchall()]
    cursor.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.contype <> 'f') "
        "ORDER BY 1",
        [tables],
    )
    return constraints, cursor.fetchall()


def timed(label: str, timings: list[tuple[str, float]], *, nested: bool = False):
    """Print ``label``, time the block, print the seconds and add them to ``timings``.

    ``nested``: the block prints lines of its own, so the total goes on a line after them.
    """

    class _Timed:
        def __enter__(self):
            self.started = time.perf_counter()
            print(f"  {label} ...", end="\n" if nested else "", flush=True)

        def __exit__(self, *exc):
            seconds = time.perf_counter() - self.started
            timings.append((label, seconds))
            print(f"  {label}: {seconds:.1f} s" if nested else f" {seconds:.1f} s", flush=True)

    return _Timed()


# --------------------------------------------------------------------------------------------------------------


def program_code(members: int, entries: int) -> str:
    return f"bench-data-{members}-{entries}"


def create_program(code: str, members: int, entries: int):
    from decimal import Decimal

    from django.contrib.auth import get_user_model

    from loyalty.models import Program, Tier

    program = Program.objects.create(
        code=code,
        name=f"Benchmark data ({members:,} members, {entries:,} entries)",
        currency="AED",
        pending_days=PENDING_DAYS,
        expiry_policy=Program.ExpiryPolicy.ROLLING,
        expiry_period=12,
        expiry_period_unit=Program.PeriodUnit.MONTHS,
        expiry_round_to_period_end=True,
        timezone="Asia/Dubai",
        nightly_hour=NIGHTLY_HOUR,
    )
    tiers = [
        Tier.objects.create(
            program=program,
            code=tier_code,
            name=name,
            rank=rank,
            threshold=Decimal(threshold),
            earn_multiplier=Decimal(multiplier),
        )
        for rank, (tier_code, name, threshold, multiplier) in enumerate(TIERS)
    ]
    staff, _ = get_user_model().objects.get_or_create(username="bench-staff", defaults={"is_staff": True})
    return program, [tier.pk for tier in tiers], staff.pk


def expiry_function(program):
    from loyalty.policies import lot_expiry

    def expiry_of_local_day(local_day: int) -> int:
        # Points earned at any time of one local day expire together under a month-end rolling policy.
        offset = program_offset(program)
        noon = datetime.datetime.fromtimestamp(local_day * DAY + 12 * 3600 - offset, tz=datetime.UTC)
        return int(lot_expiry(program, noon).timestamp())

    return expiry_of_local_day


def program_offset(program) -> int:
    from loyalty.policies import program_zone

    moment = datetime.datetime.now(tz=datetime.UTC)
    return int(program_zone(program).utcoffset(moment).total_seconds())


def generate(args) -> int:
    from django.db import connection, transaction

    from loyalty.models import Program
    from loyalty.selectors import reconcile
    from members.models import Member

    code = program_code(args.members, args.entries)
    existing = Program.objects.filter(code=code).first()
    if existing is not None:
        accounts = existing.accounts.count()
        print(f"dataset {code} is already there (program id {existing.pk}, {accounts:,} accounts): nothing to do")
        if args.check:
            return check_sample(existing, args.check_sample, reconcile)
        return 0

    timings: list[tuple[str, float]] = []
    stats = Stats()
    total_started = time.perf_counter()
    now = int(time.time()) // 60 * 60
    rng = random.Random(args.seed)
    print(f"generating {code}: {args.members:,} members and accounts, {args.entries:,} ledger entries")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")
        cursor.execute("SET LOCAL maintenance_work_mem = %s", [args.maintenance_work_mem])
        cursor.execute("SET LOCAL work_mem = '256MB'")
        check_columns(cursor)
        if Member.objects.filter(external_id__startswith=args.prefix).exists():
            raise SystemExit(f"members with external ids starting {args.prefix} exist: choose another --prefix")
        program, tier_ids, staff_id = create_program(code, args.members, args.entries)
        # Check the program rows' deferred foreign keys now: ALTER TABLE refuses tables with pending checks.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        offset = program_offset(program)
        clock = Clock(offset)
        with timed("lock tables, reserve ids", timings):
            last = reserve_ids(cursor)
        constraints, indexes = secondary_structures(cursor)
        if not args.keep_indexes:
            with timed(f"drop {len(indexes)} indexes and {len(constraints)} constraints", timings):
                for table, name, _ in reversed(constraints):
                    cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
                for name, _ in indexes:
                    cursor.execute(f"DROP INDEX {name}")

        joined = array("q", (now - rng.randrange(DAY, HISTORY_DAYS * DAY) for _ in range(args.members)))
        joined[0] = now - HISTORY_DAYS * DAY
        with timed(f"members: COPY {args.members:,} rows", timings):
            lines = member_lines(
                last["members_member"] + 1,
                args.members,
                joined,
                prefix=args.prefix,
                now=now,
                clock=clock,
                seed=args.seed + 1,
            )
            copy_text(cursor, "members_member", lines, stats)
            stats.rows["members_member"] = args.members

        simulator = LedgerSimulator(
            ids=last,
            program_id=program.pk,
            tier_ids=tier_ids,
            staff_id=staff_id,
            now=now,
            clock=clock,
            expiry_of_local_day=expiry_function(program),
            seed=args.seed + 2,
        )
        produced = load_ledger(cursor, simulator, joined, args, stats, timings)
        advance_sequences(
            cursor,
            {
                "members_member": last["members_member"] + args.members,
                "loyalty_pointaccount": last["loyalty_pointaccount"] + args.members,
                "loyalty_ledgerentry": simulator.next_entry - 1,
                "loyalty_pointlot": simulator.next_lot - 1,
            },
        )

        if not args.keep_indexes:
            details: list[tuple[str, float]] = []
            with timed(f"recreate {len(indexes)} indexes", timings, nested=True):
                for name, definition in indexes:
                    with timed(f"  create index {name}", details):
                        cursor.execute(definition)
            with timed(f"add back {len(constraints)} unique and foreign-key constraints", timings, nested=True):
                for table, name, definition in constraints:
                    with timed(f"  add constraint {name}", details):
                        cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        print("  commit (deferred constraint checks) ...", end="", flush=True)
        commit_started = time.perf_counter()
    timings.append(("commit (deferred constraint checks)", time.perf_counter() - commit_started))
    print(f" {timings[-1][1]:.1f} s")

    with connection.cursor() as cursor:
        for table in TABLES:
            with timed(f"VACUUM ANALYZE {table}", timings):
                cursor.execute(f"VACUUM (ANALYZE) {table}")
    total = time.perf_counter() - total_started

    print(f"\nrows loaded (generation thread busy {produced:.1f} s):")
    for table in TABLES:
        rows, seconds = stats.rows[table], stats.copy_seconds[table]
        rate = rows / seconds if seconds else float("nan")
        print(f"  {table:<24} {rows:>12,} rows  COPY {seconds:8.1f} s  {rate:>10,.0f} rows/s")
    all_rows = sum(stats.rows.values())
    print(f"  {'all tables':<24} {all_rows:>12,} rows  total {total:7.1f} s  {all_rows / total:>10,.0f} rows/s")
    print("phases:")
    for label, seconds in timings:
        print(f"  {label:<60} {seconds:8.1f} s")
    print(f"total {total:.1f} s")
    describe(program)
    return check_sample(program, args.check_sample, reconcile)


def load_ledger(cursor, simulator: LedgerSimulator, joined: array, args, stats: Stats, timings) -> float:
    """Simulate accounts in a producer thread, chunk by chunk, and COPY each chunk; return producer seconds."""
    chunks: queue.Queue = queue.Queue(maxsize=3)
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            budgets = entry_budgets(
                joined=joined, now=simulator.now, entries=args.entries, heavy=args.heavy, seed=args.seed + 3
            )
            chunk, started = Chunk(), time.perf_counter()
            for number, budget in enumerate(budgets):
                simulator.account(chunk, number, joined[number], budget, args.prefix)
                if len(chunk.accounts) == args.chunk_accounts:
                    chunk.seconds = time.perf_counter() - started
                    chunks.put(chunk)
                    chunk, started = Chunk(), time.perf_counter()
            chunk.seconds = time.perf_counter() - started
            chunks.put(chunk)
        except BaseException as error:
            failure.append(error)
        finally:
            chunks.put(None)

    producer = threading.Thread(target=produce, name="ledger-producer", daemon=True)
    started = time.perf_counter()
    print(f"  ledger: simulating and copying in chunks of {args.chunk_accounts:,} accounts ...", flush=True)
    producer.start()
    produced = 0.0
    done = 0
    next_report = max(args.members // 10, 1)
    while (chunk := chunks.get()) is not None:
        produced += chunk.seconds
        for table, lines in chunk.tables():
            if lines:
                copy_text(cursor, table, "".join(lines), stats)
                stats.rows[table] += len(lines)
        done += len(chunk.accounts)
        if chunk.accounts and done >= next_report:
            elapsed = time.perf_counter() - started
            print(f"    {done:>10,} accounts, {stats.rows['loyalty_ledgerentry']:>12,} entries, {elapsed:7.1f} s")
            while next_report <= done:
                next_report += max(args.members // 10, 1)
    producer.join()
    if failure:
        raise RuntimeError("the ledger simulation failed") from failure[0]
    seconds = time.perf_counter() - started
    timings.append((f"ledger: COPY {stats.rows['loyalty_ledgerentry']:,} entries and the rest", seconds))
    print(f"  ledger done in {seconds:.1f} s")
    return produced


def describe(program) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT e.kind, COUNT(*) FROM loyalty_ledgerentry e JOIN loyalty_pointaccount a ON a.id = e.account_id "
            "WHERE a.program_id = %s GROUP BY e.kind ORDER BY 2 DESC",
            [program.pk],
        )
        kinds = ", ".join(f"{kind} {count:,}" for kind, count in cursor.fetchall())
        cursor.execute(
            "SELECT t.name, COUNT(*) FROM loyalty_pointaccount a JOIN loyalty_tier t ON t.id = a.tier_id "
            "WHERE a.program_id = %s GROUP BY t.name, t.rank ORDER BY t.rank",
            [program.pk],
        )
        tiers = ", ".join(f"{name} {count:,}" for name, count in cursor.fetchall())
        cursor.execute(
            "SELECT COUNT(*) FILTER (WHERE l.activated_at IS NULL), COUNT(*) FILTER (WHERE l.remaining > 0) "
            "FROM loyalty_pointlot l JOIN loyalty_pointaccount a ON a.id = l.account_id WHERE a.program_id = %s",
            [program.pk],
        )
        pending, open_lots = cursor.fetchone()
    print(f"entries by kind: {kinds}")
    print(f"accounts by tier: {tiers}")
    print(f"lots: {pending:,} pending, {open_lots:,} with points left")


def check_sample(program, size: int, reconcile) -> int:
    """Run ``reconcile`` on a random sample of the program's accounts, plus the heaviest one."""
    if size <= 0:
        return 0
    from loyalty.models import PointAccount

    bounds = PointAccount.objects.filter(program=program).order_by("pk").values_list("pk", flat=True)
    first, last = bounds.first(), bounds.last()
    rng = random.Random()
    sample = {first, *rng.sample(range(first, last + 1), min(size, last - first + 1))}
    started = time.perf_counter()
    problems = []
    timings = []
    for account_id in sorted(sample):
        one = time.perf_counter()
        problems.extend(reconcile(account_id=account_id))
        timings.append(time.perf_counter() - one)
    seconds = time.perf_counter() - started
    timings.sort()
    print(
        f"reconcile on {len(sample):,} sampled accounts: {len(problems)} discrepancies in {seconds:.1f} s "
        f"(per account p50 {benchenv.percentile(timings, 0.5) * 1000:.0f} ms, max {timings[-1] * 1000:.0f} ms)"
    )
    for problem in problems[:20]:
        print("  " + problem.describe())
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=1_000_000, help="members, each with one account")
    parser.add_argument("--entries", type=int, default=10_000_000, help="ledger entries in all")
    parser.add_argument("--heavy", type=int, default=20_000, help="entries of the first (heaviest) account")
    parser.add_argument("--prefix", default="BM", help="member external id prefix")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--chunk-accounts", type=int, default=5_000)
    parser.add_argument("--keep-indexes", action="store_true", help="COPY with every index and constraint in place")
    parser.add_argument("--maintenance-work-mem", default="1GB", help="for the index builds of this session")
    parser.add_argument("--check-sample", type=int, default=1_000, help="accounts to reconcile at the end")
    parser.add_argument("--check", action="store_true", help="when the data is already there, reconcile a sample")
    parser.add_argument("--database", default=benchenv.DEFAULT_DATABASE, help="embedded database name")
    args = parser.parse_args()
    where = benchenv.configure(database=args.database)
    print(f"Big data generator — {where}")
    print(f"machine: {benchenv.machine()}")
    return generate(args)


if __name__ == "__main__":
    sys.exit(main())
