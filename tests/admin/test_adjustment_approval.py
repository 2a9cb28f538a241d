"""Adjustments above the threshold wait in the console until a second person approves or rejects them."""

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from loyalty.models import AdjustmentRequest, LedgerEntry
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def threshold(settings):
    settings.LOYALTY_ADJUSTMENT_APPROVAL_THRESHOLD = 100


def _user_client(group_name: str):
    user = UserFactory()
    user.groups.add(Group.objects.get(name=group_name))
    client = Client()
    client.force_login(user)
    return user, client


@pytest.fixture
def waiting(funded_account):
    """A 250-point adjustment submitted by a Support user, waiting for approval."""
    requester, client = _user_client("Support")
    url = reverse("admin:loyalty_pointaccount_adjust", args=[funded_account.pk])
    response = client.post(url, {"points": "250", "reason": "Missing receipt points"})
    assert response.status_code == 302
    return AdjustmentRequest.objects.get(account=funded_account), requester


def _decision_url(adjustment, decision: str) -> str:
    return reverse(f"admin:loyalty_adjustmentrequest_{decision}", args=[adjustment.pk])


def test_an_adjustment_above_the_threshold_waits_and_writes_nothing_yet(waiting, funded_account, admin_client):
    adjustment, _ = waiting

    assert adjustment.status == AdjustmentRequest.Status.PENDING
    assert not LedgerEntry.objects.filter(account=funded_account, kind="adjust").exists()
    page = admin_client.get(reverse("admin:members_member_change", args=[funded_account.member_id]))
    assert page.context["account_sections"][0].pending_adjustments == [adjustment]


def test_finance_approves_and_exactly_one_entry_is_written_in_the_requesters_name(waiting, funded_account):
    adjustment, requester = waiting
    _, finance = _user_client("Finance")

    response = finance.post(_decision_url(adjustment, "approve"), {"note": "Receipt checked"})

    assert response.status_code == 302
    adjustment.refresh_from_db()
    assert adjustment.status == AdjustmentRequest.Status.APPLIED
    entry = LedgerEntry.objects.get(account=funded_account, kind="adjust")
    assert (entry.points, entry.created_by, entry.reason) == (250, requester, "Missing receipt points")


def test_the_requester_cannot_approve_their_own_adjustment(waiting, funded_account):
    adjustment, requester = waiting
    requester.groups.add(Group.objects.get(name="Finance"))
    client = Client()
    client.force_login(requester)

    response = client.post(_decision_url(adjustment, "approve"), {"note": ""})

    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    adjustment.refresh_from_db()
    assert adjustment.status == AdjustmentRequest.Status.PENDING
    assert not LedgerEntry.objects.filter(account=funded_account, kind="adjust").exists()


def test_rejecting_needs_a_reason_and_writes_no_entry(waiting, funded_account):
    adjustment, _ = waiting
    _, finance = _user_client("Finance")

    without_reason = finance.post(_decision_url(adjustment, "reject"), {"note": ""})
    rejected = finance.post(_decision_url(adjustment, "reject"), {"note": "No receipt"})

    assert without_reason.status_code == 200 and "note" in without_reason.context["form"].errors
    assert rejected.status_code == 302
    adjustment.refresh_from_db()
    assert (adjustment.status, adjustment.decision_note) == (AdjustmentRequest.Status.REJECTED, "No receipt")
    assert not LedgerEntry.objects.filter(account=funded_account, kind="adjust").exists()


def test_a_decided_adjustment_cannot_be_decided_again(waiting):
    adjustment, _ = waiting
    _, finance = _user_client("Finance")
    finance.post(_decision_url(adjustment, "approve"), {"note": ""})

    again = finance.post(_decision_url(adjustment, "reject"), {"note": "Changed my mind"})

    assert again.status_code == 200 and again.context["form"].non_field_errors()
    adjustment.refresh_from_db()
    assert adjustment.status == AdjustmentRequest.Status.APPLIED


@pytest.mark.parametrize("group", ["Support", "Marketing"])
def test_only_groups_with_the_approve_right_may_decide(waiting, group):
    adjustment, _ = waiting
    _, client = _user_client(group)

    assert client.get(_decision_url(adjustment, "approve")).status_code == 403
    assert client.get(_decision_url(adjustment, "reject")).status_code == 403
