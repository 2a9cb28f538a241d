"""What a partner may read: members of its program, their balances and lots, and its own ledger entries."""

from django.db.models import Min, QuerySet, Sum
from django.utils.translation import gettext as _

from loyalty.models import LedgerEntry, PointAccount, PointLot, SourceType
from members.errors import MemberNotFound


def partner_accounts(*, program_id: int) -> QuerySet[PointAccount]:
    """The accounts of the partner's program, with member and tier, for the member endpoints."""
    return PointAccount.objects.filter(program_id=program_id).select_related("member", "tier")


def partner_account(
    *, program_id: int, member_id: int | None = None, member_external_id: str | None = None, for_earn: bool = False
) -> PointAccount:
    """The member's account in the partner's program; a member of another program is not found.

    ``for_earn`` loads what earning reads (program policy and tier) instead of the member.
    """
    accounts = PointAccount.objects.filter(program_id=program_id)
    accounts = accounts.select_related("program", "tier") if for_earn else accounts.select_related("member", "tier")
    if member_id is not None:
        account = accounts.filter(member_id=member_id).first()
    else:
        account = accounts.filter(member__external_id=member_external_id).first()
    if account is None:
        raise MemberNotFound(_("No such member is enrolled in your program."), field="member")
    return account


def partner_entries(*, partner_id: int) -> QuerySet[LedgerEntry]:
    """The ledger entries the partner made itself: the only ones it may see."""
    return LedgerEntry.objects.filter(source_type=SourceType.PARTNER, source_id=str(partner_id)).select_related(
        "account"
    )


def account_open_lots(*, account: PointAccount) -> QuerySet[PointLot]:
    """Lots still holding points, soonest-expiring first."""
    return PointLot.objects.filter(account=account, remaining__gt=0).order_by("expires_at", "id")


def account_next_expiry(*, account: PointAccount) -> dict | None:
    """The next date some available points expire and how many, or None."""
    lots = PointLot.objects.filter(
        account=account, remaining__gt=0, activated_at__isnull=False, expires_at__isnull=False
    )
    first = lots.aggregate(first=Min("expires_at"))["first"]
    if first is None:
        return None
    points = lots.filter(expires_at=first).aggregate(points=Sum("remaining"))["points"]
    return {"expires_at": first, "points": points}
