"""Server time and SQL query count of the admin pages on the big dataset.

Logs in as a superuser with ``django.test.Client`` (the whole Django stack: middleware, admin views, templates;
``DEBUG`` off) and requests the changelists of members and of the ledger (plain, page 100, more rows per page,
filtered, searched by prefix), and member pages (a typical member and the heaviest one). For each page it
prints the median and maximum server time of ``--repeat`` requests after ``--warmup`` ones, the number of SQL
queries of one more request, their total time and the slowest of them. Pages whose median is at or above
``--budget-ms`` get an EXPLAIN ANALYZE of their slowest query. Query counts are compared between page 1, page 100
and more rows per page: they must not change. ``--try-planner-estimates`` measures the paginator change proposed
in docs/benchmarks.md without touching the admin code.

Needs the data of ``bench/generate_big_data.py`` (``make bench-admin`` generates it first when missing).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty_bench .venv/bin/python bench/admin_big_tables.py
"""

import argparse
import datetime
import re
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchenv

ROW = re.compile(r'<tr[^>]*>\s*(?:<td class="action-checkbox">.*?</td>\s*)?<th class="field-', re.S)
PASSWORD = "bench-admin-password"  # noqa: S105 -- a local benchmark user on a benchmark database


@dataclass
class Result:
    label: str
    url: str
    median_ms: float
    max_ms: float
    queries: int
    sql_ms: float
    slowest_ms: float
    slowest_sql: str
    rows: int
    sql: list[str]


def measure(client, label: str, url: str, *, warmup: int, repeat: int) -> Result:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(warmup):
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"{label}: {url} answered {response.status_code}")
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, (url, response.status_code)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    queries = captured.captured_queries
    slowest = max(queries, key=lambda query: float(query["time"]))
    return Result(
        label=label,
        url=url,
        median_ms=statistics.median(times) * 1000,
        max_ms=max(times) * 1000,
        queries=len(queries),
        sql_ms=sum(float(query["time"]) for query in queries) * 1000,
        slowest_ms=float(slowest["time"]) * 1000,
        slowest_sql=slowest["sql"],
        rows=len(ROW.findall(response.content.decode())),
        sql=[f"{float(query['time']) * 1000:6.1f} ms  {query['sql']}" for query in queries],
    )


def planner_estimate_paginator():
    """A trial of the change proposed in docs/benchmarks.md, applied only with ``--try-planner-estimates``.

    Filtered and searched lists take the planner's row estimate (``EXPLAIN``) instead of ``COUNT(*)`` when it
    is at least ``estimate_from`` rows; smaller results are still counted exactly.
    """
    import json

    from django.db import connections
    from django.utils.functional import cached_property

    from config.admin_helpers import EstimatedCountPaginator

    class PlannerEstimatePaginator(EstimatedCountPaginator):
        estimate_from = 10_000

        @cached_property
        def count(self) -> int:
            queryset = self.object_list
            query = getattr(queryset, "query", None)
            if query is None or not query.where:
                return super().count
            sql, params = queryset.order_by().values("pk").query.sql_with_params()
            with connections[queryset.db].cursor() as cursor:
                cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
                plan = cursor.fetchone()[0]
            rows = int((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]["Plan Rows"])
            return rows if rows >= self.estimate_from else super().count

    return PlannerEstimatePaginator


def explain(sql: str) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        return "\n".join(row[0] for row in cursor.fetchall())


def dataset(code: str | None):
    """The benchmark program (the biggest generated one unless named), a typical and the heaviest member."""
    from django.db.models import Count

    from loyalty.models import LedgerEntry, PointAccount, Program

    programs = Program.objects.filter(code__startswith="bench-data-")
    if code:
        programs = programs.filter(code=code)
    program = programs.annotate(size=Count("accounts")).order_by("-size").first()
    if program is None:
        raise SystemExit("no generated dataset here: run bench/generate_big_data.py (or make bench-admin)")
    accounts = PointAccount.objects.filter(program=program).order_by("pk")
    heaviest = accounts.first()
    first, last = heaviest.pk, accounts.last().pk
    typical = None
    for candidate in range((first + last) // 2, last):
        if 8 <= LedgerEntry.objects.filter(account_id=candidate).count() <= 15:
            typical = PointAccount.objects.get(pk=candidate)
            break
    reference = (
        LedgerEntry.objects.filter(account_id=typical.pk, external_reference__isnull=False)
        .values_list("external_reference", flat=True)
        .first()
    )
    return program, heaviest, typical, reference


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--budget-ms", type=float, default=300.0)
    parser.add_argument("--program", help="code of the generated program (default: the biggest)")
    parser.add_argument("--only", help="measure only pages whose label contains this text")
    parser.add_argument("--show-queries", action="store_true", help="print every SQL query of each page")
    parser.add_argument(
        "--try-planner-estimates",
        action="store_true",
        help="measure with the proposed paginator that estimates big filtered counts (not the shipped admin)",
    )
    parser.add_argument("--database", default=benchenv.DEFAULT_DATABASE, help="embedded database name")
    args = parser.parse_args()

    where = benchenv.configure(database=args.database)
    from django.conf import settings
    from django.contrib import admin
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.utils import timezone

    from loyalty.models import LedgerEntry
    from members.models import Member

    if "testserver" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    print(f"Admin on big tables — {where}, DEBUG={settings.DEBUG}")
    print(f"machine: {benchenv.machine()}")
    program, heaviest, typical, reference = dataset(args.program)
    entries = LedgerEntry.objects.filter(account_id=heaviest.pk).count()
    print(f"dataset: program {program.code}; heaviest member {heaviest.member_id} ({entries:,} entries)")

    user_model = get_user_model()
    user = user_model.objects.filter(username="bench-admin").first()
    if user is None:
        user = user_model.objects.create_superuser("bench-admin", "bench-admin@example.com", PASSWORD)
    else:
        user.set_password(PASSWORD)
        user.is_superuser = user.is_staff = user.is_active = True
        user.save()
    if args.try_planner_estimates:
        trial = planner_estimate_paginator()
        for model_admin in admin.site._registry.values():
            if getattr(model_admin, "show_full_result_count", True) is False:
                model_admin.paginator = trial
        print("TRIAL: big-table admins use the proposed planner-estimate paginator for filtered lists")
    client = Client()
    if not client.login(username="bench-admin", password=PASSWORD):
        raise SystemExit("could not log in as bench-admin")

    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    # The "Past 7 days" link of DateFieldListFilter.
    since, until = str(today - datetime.timedelta(days=7)), str(today + datetime.timedelta(days=1))
    week = urlencode({"effective_at__gte": since, "effective_at__lt": until})
    joined_week = urlencode({"status__exact": "active", "joined_at__gte": since, "joined_at__lt": until})
    member_prefix = Member.objects.get(pk=typical.member_id).external_id[:-1]
    heavy_ledger = f"ledger-{heaviest.pk}"
    members, ledger = "/admin/members/member/", "/admin/loyalty/ledgerentry/"
    pages = [
        ("members", members),
        ("members, page 100", f"{members}?p=100"),
        ("members, 100 per page", members, "per_page", Member),
        ("members, search id prefix", f"{members}?q={member_prefix}"),
        ("members, status=active + joined past 7 days", f"{members}?{joined_week}"),
        ("ledger", ledger),
        ("ledger, page 100", f"{ledger}?p=100"),
        ("ledger, 100 per page", ledger, "per_page", LedgerEntry),
        ("ledger, kind=redeem", f"{ledger}?kind__exact=redeem"),
        ("ledger, kind=redeem, page 100", f"{ledger}?kind__exact=redeem&p=100"),
        ("ledger, kind=redeem + past 7 days", f"{ledger}?kind__exact=redeem&{week}"),
        ("ledger, source=partner", f"{ledger}?source_type__exact=partner"),
        ("ledger, program filter", f"{ledger}?account__program__id__exact={program.pk}"),
        ("ledger, search reference prefix", f"{ledger}?q={reference[:-2]}"),
        ("ledger, search member id prefix", f"{ledger}?q={member_prefix}"),
        ("member page, typical", f"{members}{typical.member_id}/change/"),
        ("member page, heaviest", f"{members}{heaviest.member_id}/change/"),
        ("member page, heaviest, ledger page 100", f"{members}{heaviest.member_id}/change/?{heavy_ledger}=100"),
    ]
    results = []
    print(f"\n{args.repeat} requests per page after {args.warmup} warm-up requests; server time in ms")
    print(f"{'page':<46} {'median':>7} {'max':>7} {'queries':>7} {'SQL ms':>7} {'slowest':>7} {'rows':>5}")
    for page in pages:
        label, url = page[0], page[1]
        if args.only and args.only not in label:
            continue
        model_admin, saved = None, None
        if len(page) == 4:
            model_admin = admin.site._registry[page[3]]
            saved = model_admin.list_per_page
            model_admin.list_per_page = 100
        try:
            result = measure(client, label, url, warmup=args.warmup, repeat=args.repeat)
        finally:
            if model_admin is not None:
                model_admin.list_per_page = saved
        results.append(result)
        flag = ""
        if result.median_ms >= args.budget_ms:
            flag = "  OVER BUDGET"
        elif result.max_ms >= args.budget_ms:
            flag = "  (max over budget)"
        print(
            f"{label:<46} {result.median_ms:7.1f} {result.max_ms:7.1f} {result.queries:7d} {result.sql_ms:7.1f} "
            f"{result.slowest_ms:7.1f} {result.rows if '/change/' not in url else '-':>5}{flag}"
        )
        if args.show_queries:
            for line in result.sql:
                print(f"    {line[:300]}")

    print("\nquery count by page size and page number (must not change):")
    by_label = {result.label: result for result in results}
    constant = True
    for base in ("members", "ledger", "ledger, kind=redeem"):
        group = [by_label[label] for label in (base, f"{base}, page 100", f"{base}, 100 per page") if label in by_label]
        counts = sorted({result.queries for result in group})
        constant &= len(counts) <= 1
        print(
            f"  {base:<22} "
            + ", ".join(f"{result.label[len(base) + 2 :] or 'page 1'}: {result.queries}" for result in group)
        )
    print("  constant" if constant else "  NOT CONSTANT")

    print("\nslowest query of each page:")
    for result in results:
        print(f"  {result.label}: {result.slowest_ms:.1f} ms  {' '.join(result.slowest_sql.split())[:160]}")
    over = [result for result in results if result.median_ms >= args.budget_ms]
    for result in over:
        print(f"\nEXPLAIN ANALYZE of the slowest query of '{result.label}' ({result.url}):")
        print(result.slowest_sql)
        print(explain(result.slowest_sql))
    print(f"\nmachine after: {benchenv.machine()}")
    print(f"{len(over)} page(s) with a median at or over {args.budget_ms:.0f} ms")
    return 1 if over or not constant else 0


if __name__ == "__main__":
    sys.exit(main())
