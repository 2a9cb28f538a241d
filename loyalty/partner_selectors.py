"""What a partner may read: members of its program, their balances and lots, and its own ledger entries."""

from django.db import connection
from django.db.models import Min, QuerySet, Sum
from django.utils.translation import gettext as _

from loyalty.models import LedgerEntry, PointAccount, PointLot, SourceType, Tier
from loyalty.selectors import program_terms
from members.errors import MemberNotFound


def partner_accounts(*, program_id: int) -> QuerySet[PointAccount]:
    """The accounts of the partner's program, with member and tier, for the member endpoints."""
    return PointAccount.objects.filter(program_id=program_id).select_related("member", "tier")


def partner_account(*, program_id: int, member_id: int | None = None, member_external_id: str | None = None):
    """The member's account in the partner's program, with member and tier; another program's is not found."""
    accounts = PointAccount.objects.filter(program_id=program_id).select_related("member", "tier")
    if member_id is not None:
        account = accounts.filter(member_id=member_id).first()
    else:
        account = accounts.filter(member__external_id=member_external_id).first()
    if account is None:
        raise MemberNotFound(_("No such member is enrolled in your program."), field="member")
    return account


_POINTS_ACCOUNT_SQL = {
    "member_id": "SELECT a.id, a.member_id, a.tier_id FROM loyalty_pointaccount a "
    "WHERE a.program_id = %s AND a.member_id = %s",
    "member_external_id": "SELECT a.id, a.member_id, a.tier_id FROM loyalty_pointaccount a "
    "JOIN members_member m ON m.id = a.member_id WHERE a.program_id = %s AND m.external_id = %s",
}


def points_account(*, program_id: int, member_id: int | None = None, member_external_id: str | None = None):
    """The member's account for a points write, with its program and tier attached (see program_terms).

    One indexed statement; the account's balances are not loaded, as the ledger services lock and read them.
    """
    by, value = ("member_id", member_id) if member_id is not None else ("member_external_id", member_external_id)
    with connection.cursor() as cursor:
        cursor.execute(_POINTS_ACCOUNT_SQL[by], [program_id, value])
        row = cursor.fetchone()
    if row is None:
        raise MemberNotFound(_("No such member is enrolled in your program."), field="member")
    account_id, account_member_id, tier_id = row
    program, tiers = program_terms(program_id)
    account = PointAccount(pk=account_id, member_id=account_member_id, program=program)
    account.tier = tiers.get(tier_id) if tier_id is not None else None
    if tier_id is not None and account.tier is None:  # a tier added since the terms were read
        account.tier = Tier.objects.get(pk=tier_id)
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
