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


def test_filtered_lists_and_small_tables_get_an_exact_count(funded_account, monkeypatch):
    _analyze(LedgerEntry)
    filtered = EstimatedCountPaginator(LedgerEntry.objects.filter(kind="earn").order_by("-id"), 50)
    small = EstimatedCountPaginator(LedgerEntry.objects.order_by("-id"), 50)
    monkeypatch.setattr(EstimatedCountPaginator, "exact_below", 1)

    with CaptureQueriesContext(connection) as context:
        assert filtered.count == 2
    assert any("COUNT(" in query["sql"].upper() for query in context.captured_queries)
    monkeypatch.undo()
    with CaptureQueriesContext(connection) as context:
        assert small.count == 2
    assert any("COUNT(" in query["sql"].upper() for query in context.captured_queries)


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


LEDGER_BY_ACCOUNT = ("loyalty_entry_account_idx", "loyalty_ledgerentry_account_id")
ACCOUNT_BY_PROGRAM = ("loyalty_account_prog_tier_idx", "loyalty_pointaccount_program_id")


@pytest.mark.parametrize(
    ("model", "params", "indexes"),
    [
        pytest.param(Member, lambda a: {"q": "M00"}, [("members_external_id_like",)], id="member-id"),
        pytest.param(Member, lambda a: {"q": a.member.email[:6]}, [("members_email_like",)], id="member-email"),
        pytest.param(Member, lambda a: {"status__exact": "blocked"}, [("members_status_idx",)], id="member-status"),
        pytest.param(
            Member, lambda a: {"enrollment_channel__exact": "pos"}, [("members_channel_idx",)], id="member-channel"
        ),
        pytest.param(Member, lambda a: _day_range("joined_at"), [("members_joined_at_idx",)], id="member-joined"),
        pytest.param(LedgerEntry, lambda a: {"q": "order-"}, [("loyalty_entry_reference_like",)], id="ledger-ref"),
        pytest.param(
            LedgerEntry,
            lambda a: {"q": a.member.external_id},
            [("loyalty_entry_reference_like",), LEDGER_BY_ACCOUNT],
            id="ledger-member",
        ),
        pytest.param(LedgerEntry, lambda a: {"kind__exact": "adjust"}, [("loyalty_entry_kind_idx",)], id="ledger-kind"),
        pytest.param(
            LedgerEntry, lambda a: {"source_type__exact": "import"}, [("loyalty_entry_source_idx",)], id="ledger-source"
        ),
        pytest.param(
            LedgerEntry, lambda a: _day_range("effective_at"), [("loyalty_entry_effective_idx",)], id="ledger-date"
        ),
        pytest.param(
            LedgerEntry,
            lambda a: {"account__program__id__exact": a.program_id},
            [ACCOUNT_BY_PROGRAM, LEDGER_BY_ACCOUNT],
            id="ledger-program",
        ),
        pytest.param(
            PointAccount, lambda a: {"program__id__exact": a.program_id}, [ACCOUNT_BY_PROGRAM], id="account-program"
        ),
        pytest.param(
            PointAccount,
            lambda a: {"tier": a.tier_id},
            [("loyalty_account_prog_tier_idx", "loyalty_pointaccount_tier_id")],
            id="account-tier",
        ),
    ],
)
def test_every_filter_and_search_is_served_by_an_index(admin_client, funded_account, model, params, indexes):
    ProgramFactory()  # a program filter shows (and applies) only when there is a choice to make
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    response = admin_client.get(url, params(funded_account))
    assert response.status_code == 200
    # Only the rows the filter selects: the page's joins for display are by primary key anyway.
    queryset = response.context["cl"].queryset.select_related(None).order_by()
    with connection.cursor() as cursor:
        # Tiny test tables would be read whole; forbidding that shows whether an index can serve the query.
        cursor.execute("SET LOCAL enable_seqscan = off")

    plan = queryset.explain()

    assert "Seq Scan" not in plan, plan
    for alternatives in indexes:
        assert any(index in plan for index in alternatives), plan
