"""Big tables stay fast: constant queries per changelist page, estimated counts, an index behind every filter."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from config.admin_helpers import EstimatedCountPaginator
from loyalty.models import LedgerEntry, PointAccount
from loyalty.services import Source, points_credit
from members.models import Member
from tests.factories import AccountFactory, ProgramFactory, TierFactory

pytestmark = pytest.mark.django_db


def _fund_accounts(count: int) -> None:
    """Accounts of different members in different programs, each with a tier and one credit."""
    for _ in range(count):
        program = ProgramFactory()
        TierFactory(program=program, rank=0)
        account = AccountFactory(program=program)
        points_credit(account=account, points=10, source=Source.partner(1), external_reference=f"ref-{account.pk}")


def _queries(client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as context:
        response = client.get(url)
    assert response.status_code == 200
    return [query["sql"] for query in context.captured_queries]


@pytest.mark.parametrize(
    "url_name",
    [
        "admin:members_member_changelist",
        "admin:loyalty_ledgerentry_changelist",
        "admin:loyalty_pointaccount_changelist",
        "admin:loyalty_pointlot_changelist",
        "admin:loyalty_tierchange_changelist",
    ],
)
def test_a_changelist_runs_as_many_queries_for_fifty_rows_as_for_five(admin_client, url_name):
    url = reverse(url_name)
    _fund_accounts(5)
    few = len(_queries(admin_client, url))

    _fund_accounts(45)
    many = len(_queries(admin_client, url))

    assert many == few


def _analyze(model) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {model._meta.db_table}")


def test_an_unfiltered_big_table_is_counted_from_the_planner_statistics(funded_account, monkeypatch):
    _fund_accounts(3)
    _analyze(LedgerEntry)
    monkeypatch.setattr(EstimatedCountPaginator, "exact_below", 1)
    paginator = EstimatedCountPaginator(LedgerEntry.objects.order_by("-id"), 50)

    with CaptureQueriesContext(connection) as context:
        count = paginator.count

    assert [query["sql"] for query in context.captured_queries if "pg_class" in query["sql"]]
    assert not [query["sql"] for query in context.captured_queries if "COUNT(" in query["sql"].upper()]
    assert count == LedgerEntry.objects.count() == 5


def test_small_filtered_lists_and_small_tables_get_an_exact_count(funded_account):
    _analyze(LedgerEntry)
    filtered = EstimatedCountPaginator(LedgerEntry.objects.filter(kind="earn").order_by("-id"), 50)
    small = EstimatedCountPaginator(LedgerEntry.objects.order_by("-id"), 50)

    for paginator in (filtered, small):
        with CaptureQueriesContext(connection) as context:
            assert paginator.count == 2
        assert any("COUNT(" in query["sql"].upper() for query in context.captured_queries)


def test_a_filter_the_planner_expects_to_match_many_rows_is_estimated(funded_account, monkeypatch):
    _fund_accounts(3)
    _analyze(LedgerEntry)
    monkeypatch.setattr(EstimatedCountPaginator, "exact_below", 1)
    filtered = EstimatedCountPaginator(LedgerEntry.objects.filter(kind="earn").order_by("-id"), 50)

    with CaptureQueriesContext(connection) as context:
        count = filtered.count

    assert [query["sql"] for query in context.captured_queries if query["sql"].startswith("EXPLAIN")]
    assert not [query["sql"] for query in context.captured_queries if "COUNT(" in query["sql"].upper()]
    assert count >= 1


def test_the_ledger_changelist_does_not_count_a_big_table(admin_client, funded_account, monkeypatch):
    _analyze(LedgerEntry)
    monkeypatch.setattr(EstimatedCountPaginator, "exact_below", 1)

    queries = _queries(admin_client, reverse("admin:loyalty_ledgerentry_changelist"))

    assert not [sql for sql in queries if "COUNT(" in sql.upper() and "loyalty_ledgerentry" in sql]


def _day_range(field: str) -> dict[str, str]:
    today = timezone.localdate()
    return {
        f"{field}__gte": str(datetime.datetime.combine(today, datetime.time(), tzinfo=datetime.UTC)),
        f"{field}__lt": str(
            datetime.datetime.combine(today, datetime.time(), tzinfo=datetime.UTC) + datetime.timedelta(days=1)
        ),
    }


LEDGER_BY_ACCOUNT = ("loyalty_entry_account_idx",)
# Both account indexes lead with the program; the planner may pick either.
ACCOUNT_BY_PROGRAM = ("loyalty_account_prog_tier_idx", "loyalty_account_activity_idx")
# (changelist model, query parameters for the funded account, indexes the plan must use: one of each tuple)
FILTER_CASES = {
    "member id": (Member, lambda a: {"q": a.member.external_id}, [("members_external_id_like",)]),
    "member email": (Member, lambda a: {"q": a.member.email[:9].upper()}, [("members_email_like",)]),
    "member status": (Member, lambda a: {"status__exact": "blocked"}, [("members_status_idx",)]),
    "member channel": (Member, lambda a: {"enrollment_channel__exact": "pos"}, [("members_channel_idx",)]),
    "member joined": (Member, lambda a: _day_range("joined_at"), [("members_joined_at_idx",)]),
    "ledger reference": (LedgerEntry, lambda a: {"q": "order-"}, [("loyalty_entry_reference_like",)]),
    "ledger member": (
        LedgerEntry,
        lambda a: {"q": a.member.external_id},
        [("loyalty_entry_reference_like",), LEDGER_BY_ACCOUNT],
    ),
    "ledger kind": (LedgerEntry, lambda a: {"kind__exact": "adjust"}, [("loyalty_entry_kind_idx",)]),
    "ledger source": (
        LedgerEntry,
        lambda a: {"source_type__exact": "import"},
        [("loyalty_entry_source_idx", "loyalty_entry_source_id_idx")],
    ),
    "ledger date": (LedgerEntry, lambda a: _day_range("effective_at"), [("loyalty_entry_effective_idx",)]),
    "ledger program": (
        LedgerEntry,
        lambda a: {"account__program__id__exact": a.program_id},
        [ACCOUNT_BY_PROGRAM, LEDGER_BY_ACCOUNT],
    ),
    "account program": (PointAccount, lambda a: {"program__id__exact": a.program_id}, [ACCOUNT_BY_PROGRAM]),
    "account tier": (
        PointAccount,
        lambda a: {"tier": a.tier_id},
        [("loyalty_account_prog_tier_idx", "loyalty_pointaccount_tier_id")],
    ),
}


def test_every_filter_and_search_is_served_by_an_index(admin_client, funded_account):
    # A crowd in another program, analysed, so the planner weighs the filters as it would on a big table.
    crowd = ProgramFactory()
    TierFactory(program=crowd, rank=0)
    for _ in range(150):
        account = AccountFactory(program=crowd)
        points_credit(account=account, points=10, source=Source.partner(1), external_reference=f"ref-{account.pk}")
    for model in (Member, PointAccount, LedgerEntry):
        _analyze(model)
    with connection.cursor() as cursor:
        # Forbid reading a whole table, so the plan shows whether an index can serve each query.
        cursor.execute("SET LOCAL enable_seqscan = off")

    unserved = {}
    for case, (model, params, indexes) in FILTER_CASES.items():
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        response = admin_client.get(url, params(funded_account))
        assert response.status_code == 200, case
        # Only the rows the filter selects: the page's joins for display go by primary key anyway.
        plan = response.context["cl"].queryset.select_related(None).order_by().explain()
        if "Seq Scan" in plan or not all(any(index in plan for index in group) for group in indexes):
            unserved[case] = plan

    assert not unserved, "\n\n".join(f"{case}:\n{plan}" for case, plan in unserved.items())
