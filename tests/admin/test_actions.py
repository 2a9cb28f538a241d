"""Operator actions: each is a small form calling one service; domain errors land on the form."""

from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from loyalty.models import EntryKind, LedgerEntry, SourceType
from members.models import Member
from members.services import member_block
from tests.factories import TierFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def support_user():
    user = UserFactory()
    user.groups.add(Group.objects.get(name="Support"))
    return user


@pytest.fixture
def support(support_user):
    client = Client()
    client.force_login(support_user)
    return client


def _adjust_url(account) -> str:
    return reverse("admin:loyalty_pointaccount_adjust", args=[account.pk])


def test_adjusting_points_writes_one_staff_entry_with_the_reason(support, support_user, funded_account):
    before = set(LedgerEntry.objects.values_list("pk", flat=True))

    response = support.post(_adjust_url(funded_account), {"points": "-120", "reason": "Goodwill correction"})

    assert response.status_code == 302
    member_url = reverse("admin:members_member_change", args=[funded_account.member_id])
    assert response["Location"] == f"{member_url}#account-{funded_account.pk}"
    new_entries = LedgerEntry.objects.exclude(pk__in=before)
    entry = new_entries.get()
    assert (entry.kind, entry.points, entry.source_type) == (EntryKind.ADJUST, -120, SourceType.STAFF)
    assert (entry.created_by, entry.reason) == (support_user, "Goodwill correction")
    funded_account.refresh_from_db()
    assert funded_account.available == 380
    assert LogEntry.objects.filter(object_id=str(funded_account.pk), user=support_user).exists()


def test_a_debit_above_the_balance_shows_the_error_on_the_points_field_and_writes_nothing(support, funded_account):
    count = LedgerEntry.objects.count()

    response = support.post(_adjust_url(funded_account), {"points": "-501", "reason": "Too much"})

    assert response.status_code == 200
    assert "500" in " ".join(response.context["form"].errors["points"])
    assert LedgerEntry.objects.count() == count
    funded_account.refresh_from_db()
    assert funded_account.available == 500


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"points": "0", "reason": "Nothing"}, "points"),
        ({"points": "10", "reason": ""}, "reason"),
        ({"points": "1.5", "reason": "Half"}, "points"),
    ],
)
def test_bad_adjustments_name_the_field_and_write_nothing(support, funded_account, data, field):
    count = LedgerEntry.objects.count()

    response = support.post(_adjust_url(funded_account), data)

    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert LedgerEntry.objects.count() == count


def test_adjusting_a_blocked_members_points_shows_why_above_the_form(support, funded_account):
    member_block(member=funded_account.member, reason="Fraud review")
    count = LedgerEntry.objects.count()

    response = support.post(_adjust_url(funded_account), {"points": "10", "reason": "Gift"})

    assert response.status_code == 200
    assert "blocked" in " ".join(response.context["form"].non_field_errors())
    assert LedgerEntry.objects.count() == count


def test_the_ledger_admin_refuses_add_change_and_delete(admin_client, funded_account):
    entry = LedgerEntry.objects.filter(account=funded_account, external_reference="order-1").get()
    change_url = reverse("admin:loyalty_ledgerentry_change", args=[entry.pk])

    assert admin_client.get(reverse("admin:loyalty_ledgerentry_add")).status_code == 403
    assert admin_client.post(change_url, {"points": "99999", "kind": "earn"}).status_code == 403
    assert admin_client.post(reverse("admin:loyalty_ledgerentry_delete", args=[entry.pk])).status_code == 403
    bulk_delete = {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"}
    admin_client.post(reverse("admin:loyalty_ledgerentry_changelist"), bulk_delete)
    entry.refresh_from_db()
    assert entry.points == 300
    changelist = admin_client.get(reverse("admin:loyalty_ledgerentry_changelist"))
    offered = {name for name, _ in changelist.context["action_form"].fields["action"].choices if name}
    assert offered == {"export_as_csv", "export_as_xlsx"}


def test_the_whole_filtered_ledger_exports_as_streamed_csv(admin_client, funded_account):
    export = {"action": "export_as_csv", "select_across": "1", "index": "0", "_selected_action": ["0"]}

    response = admin_client.post(reverse("admin:loyalty_ledgerentry_changelist") + "?kind__exact=earn", export)

    assert response.status_code == 200 and response.streaming
    lines = b"".join(response.streaming_content).decode("utf-8-sig").splitlines()
    assert len(lines) == 1 + LedgerEntry.objects.filter(kind="earn").count()
    assert "order-1" in "\n".join(lines)


def test_recompute_tier_moves_the_member_to_the_tier_they_qualify_for(support, funded_account):
    gold = TierFactory(program=funded_account.program, rank=1, code="gold", threshold=Decimal("400"))

    response = support.post(reverse("admin:loyalty_pointaccount_recompute_tier", args=[funded_account.pk]))

    assert response.status_code == 302
    funded_account.refresh_from_db()
    assert funded_account.tier == gold


def test_blocking_needs_a_reason_and_unblocking_restores_the_member(support, funded_account):
    member = funded_account.member
    block_url = reverse("admin:members_member_block", args=[member.pk])

    refused = support.post(block_url, {"reason": "  "})
    member.refresh_from_db()
    assert refused.status_code == 200 and "reason" in refused.context["form"].errors
    assert member.status == Member.Status.ACTIVE

    assert support.post(block_url, {"reason": "Card reported stolen"}).status_code == 302
    member.refresh_from_db()
    assert (member.status, member.blocked_reason) == (Member.Status.BLOCKED, "Card reported stolen")

    assert support.post(reverse("admin:members_member_unblock", args=[member.pk])).status_code == 302
    member.refresh_from_db()
    assert (member.status, member.blocked_reason) == (Member.Status.ACTIVE, "")


def test_an_action_on_a_missing_object_is_not_found(support):
    assert support.get(reverse("admin:loyalty_pointaccount_adjust", args=[999999])).status_code == 404
    assert support.get(reverse("admin:members_member_block", args=[999999])).status_code == 404
