"""The member page with the member's programs: balances, tier, open lots and a paginated ledger per account.

Members know nothing of loyalty, so loyalty extends ``members.admin.MemberAdmin`` and registers the subclass in
its place (see the end of ``loyalty.admin``).
"""

from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.db.models import F
from django.http import HttpRequest

from loyalty.admin_common import account_permissions
from loyalty.models import AdjustmentRequest, PointAccount, PointLot
from members.admin import MemberAdmin
from members.models import Member

LEDGER_PER_PAGE = 50
LOTS_SHOWN = 20


@dataclass
class AccountSection:
    account: PointAccount
    lots: list[PointLot] | None
    ledger: Page | None
    ledger_pages: list[tuple[int | str, str | None]]
    pending_adjustments: list[AdjustmentRequest] | None


def _page_links(request: HttpRequest, page: Page, parameter: str, anchor: str) -> list[tuple[int | str, str | None]]:
    """(label, query string) for each page link; the current page and ellipses have no link."""
    links = []
    for number in page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1):
        if number == page.number or number == Paginator.ELLIPSIS:
            links.append((number, None))
            continue
        query = request.GET.copy()
        query[parameter] = number
        links.append((number, f"?{query.urlencode()}#{anchor}"))
    return links


def account_sections(request: HttpRequest, member: Member) -> list[AccountSection]:
    """One section per program the member is enrolled in; each ledger pages with its own query parameter."""
    user = request.user
    if not user.has_perm("loyalty.view_pointaccount"):
        return []
    accounts = PointAccount.objects.filter(member=member).select_related("program", "tier").order_by("program__name")
    sections = []
    for account in accounts:
        lots = None
        if user.has_perm("loyalty.view_pointlot"):
            lots = list(
                account.lots.filter(remaining__gt=0).order_by(F("expires_at").asc(nulls_last=True), "id")[:LOTS_SHOWN]
            )
        ledger, pages = None, []
        if user.has_perm("loyalty.view_ledgerentry"):
            parameter = f"ledger-{account.pk}"
            entries = account.entries.select_related("created_by").order_by("-id")
            ledger = Paginator(entries, LEDGER_PER_PAGE).get_page(request.GET.get(parameter))
            pages = _page_links(request, ledger, parameter, f"account-{account.pk}")
        pending = None
        if user.has_perm("loyalty.view_adjustmentrequest"):
            pending = list(
                account.adjustment_requests.filter(status=AdjustmentRequest.Status.PENDING)
                .select_related("requested_by")
                .order_by("-id")
            )
        sections.append(
            AccountSection(account=account, lots=lots, ledger=ledger, ledger_pages=pages, pending_adjustments=pending)
        )
    return sections


class MemberWithAccountsAdmin(MemberAdmin):
    change_form_template = "admin/loyalty/member/change_form.html"

    def render_change_form(self, request: HttpRequest, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk:
            context.update(account_permissions(request))
            context["account_sections"] = account_sections(request, obj)
            context["lots_shown"] = LOTS_SHOWN
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)
