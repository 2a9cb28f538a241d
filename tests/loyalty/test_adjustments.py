import pytest

from loyalty.errors import AlreadyDecided, InsufficientPoints, SelfApproval
from loyalty.models import AdjustmentRequest, LedgerEntry
from loyalty.services import adjustment_approve, adjustment_reject, adjustment_submit
from tests.factories import UserFactory


@pytest.fixture
def threshold(settings):
    settings.LOYALTY_ADJUSTMENT_APPROVAL_THRESHOLD = 1000
    return 1000


def test_small_adjustment_is_applied_at_once(account, staff_user, threshold):
    request = adjustment_submit(account=account, points=threshold, reason="Missing receipt points", user=staff_user)

    assert request.status == AdjustmentRequest.Status.APPLIED
    assert (request.entry.points, request.entry.created_by) == (threshold, staff_user)
    account.refresh_from_db()
    assert account.available == threshold


def test_large_adjustment_waits_for_a_second_person(account, staff_user, threshold):
    approver = UserFactory()
    request = adjustment_submit(account=account, points=threshold + 1, reason="Status match", user=staff_user)
    assert request.status == AdjustmentRequest.Status.PENDING
    assert not LedgerEntry.objects.filter(account=account).exists()

    with pytest.raises(SelfApproval):
        adjustment_approve(request=request, user=staff_user)
    adjustment_approve(request=request, user=approver, note="Checked the other program's statement")

    request.refresh_from_db()
    assert request.status == AdjustmentRequest.Status.APPLIED
    assert request.decided_by == approver
    assert request.entry.created_by == staff_user
    assert request.entry.metadata == {"adjustment_request": request.pk, "approved_by": approver.pk}
    with pytest.raises(AlreadyDecided):
        adjustment_reject(request=request, user=approver, note="too late")


def test_rejected_adjustment_writes_nothing_to_the_ledger(account, staff_user, threshold):
    request = adjustment_submit(account=account, points=-5000, reason="Clawback", user=staff_user)

    with pytest.raises(Exception) as error:
        adjustment_reject(request=request, user=UserFactory(), note=" ")
    assert error.value.field == "reason"
    adjustment_reject(request=request, user=UserFactory(), note="No evidence of abuse")

    request.refresh_from_db()
    assert request.status == AdjustmentRequest.Status.REJECTED
    assert not LedgerEntry.objects.filter(account=account).exists()


def test_approval_that_would_overdraw_stays_pending(account, staff_user, threshold):
    request = adjustment_submit(account=account, points=-5000, reason="Clawback", user=staff_user)

    with pytest.raises(InsufficientPoints):
        adjustment_approve(request=request, user=UserFactory())

    request.refresh_from_db()
    assert request.status == AdjustmentRequest.Status.PENDING


@pytest.mark.parametrize(("points", "reason", "field"), [(0, "x", "points"), (5, "", "reason"), (2.5, "x", "points")])
def test_bad_adjustment_input_writes_no_request(account, staff_user, points, reason, field):
    with pytest.raises(Exception) as error:
        adjustment_submit(account=account, points=points, reason=reason, user=staff_user)

    assert error.value.field == field
    assert not AdjustmentRequest.objects.exists()
