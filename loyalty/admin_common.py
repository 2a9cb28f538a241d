"""Pieces shared by the loyalty admin pages: permissions of the account actions, how an account is named,
member columns for rows of an account, and search by member id."""

from django.contrib import admin
from django.db.models import Q
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from loyalty.models import PointAccount

ADJUST_PERMISSION = "loyalty.adjust_points"
RECOMPUTE_PERMISSIONS = ("loyalty.change_pointaccount", ADJUST_PERMISSION)
APPROVE_PERMISSION = "loyalty.approve_adjustmentrequest"
# A search by member id looks up at most this many accounts first (see queryset_of_members).
SEARCH_MAX_ACCOUNTS = 200


def account_permissions(request: HttpRequest) -> dict[str, bool]:
    """Which account actions the user may take, for templates."""
    user = request.user
    return {
        "can_adjust_points": user.has_perm(ADJUST_PERMISSION),
        "can_recompute_tier": any(user.has_perm(permission) for permission in RECOMPUTE_PERMISSIONS),
    }


def account_label(account: PointAccount) -> str:
    """How staff name an account: the member and the program."""
    return gettext("%(member)s in %(program)s") % {"member": account.member.external_id, "program": account.program}


class AccountColumnsMixin:
    """Member and program columns for rows that belong to an account (select ``account__member`` and
    ``account__program`` with them)."""

    @admin.display(description=_("member"), ordering="account__member__external_id")
    def account_member(self, obj) -> str:
        return obj.account.member.external_id

    @admin.display(description=_("program"))
    def account_program(self, obj) -> str:
        return obj.account.program.code


def queryset_of_members(queryset, search_term: str, *, reference: bool = False):
    """Rows of accounts whose member id starts with the term (and, with ``reference``, rows whose external
    reference does).

    The accounts are looked up first: an OR across the join to members could use no index on a table of
    millions of rows, while ``account_id IN (…) OR external_reference LIKE 'term%'`` is two index scans.
    """
    term = search_term.strip()
    if not term:
        return queryset, False
    account_ids = list(
        PointAccount.objects.filter(member__external_id__startswith=term)
        .order_by()
        .values_list("pk", flat=True)[:SEARCH_MAX_ACCOUNTS]
    )
    condition = Q(account_id__in=account_ids)
    if reference:
        condition |= Q(external_reference__startswith=term)
    return queryset.filter(condition), False
