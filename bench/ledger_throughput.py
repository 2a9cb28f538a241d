"""Credits and debits per second through ``loyalty.services``: one connection, then N threads.

Each run creates its own program, members and accounts through the services, warms up, then times a phase of
credits followed by a phase of debits (each call is one transaction, committed), first on one connection and
then on ``--threads`` threads, each thread with its own connection and its own accounts. It prints ops/s and
p50 / p99 / max latency per operation type, the SQL statements per operation, and finally runs ``reconcile``
over the program and fails if any account is off: a benchmark that corrupts the ledger is worthless.

    .venv/bin/python bench/ledger_throughput.py --ops 4000 --threads 8
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty_bench .venv/bin/python bench/ledger_throughput.py
"""

import argparse
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchenv


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        values = sorted(self.latencies)
        count = len(values)
        rate = count / self.seconds if self.seconds else float("nan")
        return (
            f"  {self.name:<7} {count:>7} ops in {self.seconds:7.2f} s = {rate:8.0f} ops/s   "
            f"p50 {benchenv.percentile(values, 0.50) * 1000:6.2f} ms   "
            f"p99 {benchenv.percentile(values, 0.99) * 1000:6.2f} ms   max {values[-1] * 1000:7.2f} ms"
        )


def _setup(*, accounts: int, seed_points: int):
    """A fresh program with accounts, created through the services."""
    from decimal import Decimal

    from loyalty.models import Program, Tier
    from loyalty.services import Source, member_enroll, points_credit
    from members.services import member_create

    tag = time.strftime("%Y%m%d%H%M%S") + f"{random.randrange(1000):03d}"
    program = Program.objects.create(
        code=f"bench-ledger-{tag}",
        name=f"Ledger throughput {tag}",
        expiry_policy=Program.ExpiryPolicy.ROLLING,
        expiry_period=12,
        expiry_round_to_period_end=True,
    )
    for rank, (code, threshold) in enumerate([("base", 0), ("silver", 5_000), ("gold", 20_000)]):
        Tier.objects.create(program=program, code=code, name=code.title(), rank=rank, threshold=Decimal(threshold))
    source = Source.system("bench-setup")
    created = []
    for number in range(accounts):
        member = member_create(
            external_id=f"LB-{tag}-{number:05d}",
            email=f"ledger.bench.{tag}.{number}@example.com",
            first_name="Bench",
            last_name=f"Member {number}",
        )
        account = member_enroll(member=member, program=program)
        points_credit(account=account, points=seed_points, source=source)
        created.append(account)
    return program, created


class Worker:
    """Credits then debits on its own accounts; keeps its own balances to size debits that always succeed."""

    def __init__(self, accounts, *, seed: int, seed_points: int) -> None:
        from loyalty.services import Source

        self.accounts = accounts
        self.random = random.Random(seed)
        self.available = dict.fromkeys((account.pk for account in accounts), seed_points)
        self.source = Source.partner(f"bench-{seed}")
        self.credit = Phase("credit")
        self.debit = Phase("debit")
        self.error: BaseException | None = None
        self.reference = 0

    def do_credit(self, account, phase: Phase | None) -> None:
        from loyalty.services import points_credit

        points = self.random.randint(10, 500)
        self.reference += 1
        started = time.perf_counter()
        points_credit(
            account=account,
            points=points,
            source=self.source,
            external_reference=f"{self.source.id}-{account.pk}-{self.reference}",
        )
        if phase is not None:
            phase.latencies.append(time.perf_counter() - started)
        self.available[account.pk] += points

    def do_debit(self, account, phase: Phase | None) -> None:
        from loyalty.services import points_debit

        points = min(self.random.randint(10, 400), self.available[account.pk])
        started = time.perf_counter()
        points_debit(account=account, points=points, source=self.source)
        if phase is not None:
            phase.latencies.append(time.perf_counter() - started)
        self.available[account.pk] -= points

    def run(self, operation: str, count: int, *, record: bool = True) -> None:
        do = self.do_credit if operation == "credit" else self.do_debit
        phase = (self.credit if operation == "credit" else self.debit) if record else None
        for number in range(count):
            do(self.accounts[number % len(self.accounts)], phase)


def _queries_per_operation(worker: Worker) -> tuple[int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    account = worker.accounts[0]
    with CaptureQueriesContext(connection) as credit:
        worker.do_credit(account, None)
    with CaptureQueriesContext(connection) as debit:
        worker.do_debit(account, None)
    return len(credit.captured_queries), len(debit.captured_queries)


def run_sequential(accounts, *, ops: int, warmup: int, seed_points: int) -> Worker:
    worker = Worker(accounts, seed=1, seed_points=seed_points)
    worker.run("credit", warmup, record=False)
    worker.run("debit", warmup, record=False)
    for operation in ("credit", "debit"):
        phase = worker.credit if operation == "credit" else worker.debit
        started = time.perf_counter()
        worker.run(operation, ops)
        phase.seconds = time.perf_counter() - started
    return worker


def run_threaded(accounts, *, threads: int, ops: int, warmup: int, seed_points: int) -> tuple[Phase, Phase, int]:
    """``ops`` operations of each type split over ``threads`` threads, each on its own connection."""
    from django.db import connection

    slices = [accounts[index::threads] for index in range(threads)]
    workers = [Worker(part, seed=100 + index, seed_points=seed_points) for index, part in enumerate(slices)]
    per_thread = ops // threads
    barrier = threading.Barrier(threads + 1)
    backends: set[int] = set()

    def body(worker: Worker) -> None:
        try:
            worker.run("credit", warmup, record=False)
            worker.run("debit", warmup, record=False)
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                backends.add(cursor.fetchone()[0])
            for operation in ("credit", "debit"):
                barrier.wait()
                worker.run(operation, per_thread)
                barrier.wait()
        except BaseException as error:
            worker.error = error
            barrier.abort()
            raise
        finally:
            connection.close()

    pool = [
        threading.Thread(target=body, args=(worker,), name=f"bench-{index}") for index, worker in enumerate(workers)
    ]
    for thread in pool:
        thread.start()
    totals = []
    try:
        for operation in ("credit", "debit"):
            barrier.wait()
            started = time.perf_counter()
            barrier.wait()
            total = Phase(operation, seconds=time.perf_counter() - started)
            for worker in workers:
                total.latencies.extend((worker.credit if operation == "credit" else worker.debit).latencies)
            totals.append(total)
    except threading.BrokenBarrierError:
        pass
    for thread in pool:
        thread.join()
    for worker in workers:
        if worker.error is not None:
            raise RuntimeError("a worker thread failed") from worker.error
    return totals[0], totals[1], len(backends)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=4000, help="timed operations of each type per mode")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--accounts", type=int, default=64, help="accounts used (split between the threads)")
    parser.add_argument("--warmup", type=int, default=50, help="untimed operations of each type per worker")
    parser.add_argument("--seed-points", type=int, default=1_000, help="points credited to each account at setup")
    parser.add_argument("--database", default=benchenv.DEFAULT_DATABASE, help="embedded database name")
    args = parser.parse_args()
    if args.accounts < args.threads:
        parser.error("--accounts must be at least --threads (threads work on distinct accounts)")

    where = benchenv.configure(database=args.database)
    from django.db import connection

    from loyalty.models import LedgerEntry
    from loyalty.selectors import reconcile

    print(f"Ledger throughput — {where}")
    print(f"machine: {benchenv.machine()}")
    print(f"existing ledger entries: ~{_estimated_rows('loyalty_ledgerentry'):,}")
    with benchenv.Timer() as setup_time:
        program, accounts = _setup(accounts=args.accounts, seed_points=args.seed_points)
    print(f"setup: program {program.code}, {len(accounts)} accounts in {setup_time.seconds:.1f} s")

    sequential = run_sequential(accounts, ops=args.ops, warmup=args.warmup, seed_points=args.seed_points)
    credit_queries, debit_queries = _queries_per_operation(sequential)
    print(f"\none connection, sequential ({len(accounts)} accounts round-robin, {args.warmup} warm-up ops each type):")
    print(sequential.credit.line())
    print(sequential.debit.line())
    print(f"  SQL statements per operation: credit {credit_queries}, debit {debit_queries}")
    connection.close()

    # Fresh balances for the threaded run: the sequential worker moved points on every account.
    threaded_accounts = _setup(accounts=args.accounts, seed_points=args.seed_points)[1]
    program_ids = [program.pk, threaded_accounts[0].program_id]
    credit, debit, backends = run_threaded(
        threaded_accounts, threads=args.threads, ops=args.ops, warmup=args.warmup, seed_points=args.seed_points
    )
    print(
        f"\n{args.threads} threads, distinct accounts ({len(threaded_accounts) // args.threads} each), "
        f"{backends} distinct server connections:"
    )
    print(credit.line())
    print(debit.line())

    with benchenv.Timer() as check:
        problems = [problem for program_id in program_ids for problem in reconcile(program_id=program_id)]
    entries = LedgerEntry.objects.filter(account__program_id__in=program_ids).count()
    print(f"\nreconcile over the {2 * len(accounts)} touched accounts ({entries:,} entries): ", end="")
    print(f"{len(problems)} discrepancies in {check.seconds:.2f} s")
    print(f"machine after: {benchenv.machine()}")
    for problem in problems[:20]:
        print("  " + problem.describe())
    connection.close()
    return 1 if problems else 0


def _estimated_rows(table: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT GREATEST(reltuples, 0)::bigint FROM pg_class WHERE relname = %s", [table])
        row = cursor.fetchone()
    return row[0] if row else 0


if __name__ == "__main__":
    sys.exit(main())
