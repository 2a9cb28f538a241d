"""The earning rules engine: business events (purchases) turned into points through loyalty's ledger services.

Rule today: points = amount x the program's earn rate x the member's tier multiplier, rounded per program
policy. Campaign rules (bonuses, caps, budgets) are added here, each credit still going through
``loyalty.services.points_credit``.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.errors import CurrencyMismatch
from config.errors import InvalidInput
from loyalty.models import EntryKind, LedgerEntry, PointAccount
from loyalty.policies import points_for_amount
from loyalty.services import Source, points_credit

MAX_ITEMS = 200


@dataclass(frozen=True)
class PurchaseEarning:
    points: int
    entry: LedgerEntry | None


def _clean_items(items: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Line items as JSON-safe data for the entry's metadata (amounts as strings, never floats)."""
    if not items:
        return []
    if len(items) > MAX_ITEMS:
        raise InvalidInput(_("At most %(count)d items per purchase.") % {"count": MAX_ITEMS}, field="items")
    return [{key: str(value) if isinstance(value, Decimal) else value for key, value in item.items()} for item in items]


# Nested inside a caller's transaction this adds no savepoint of its own: the credit below has one, and a
# failure here fails the caller's whole transaction, which is what a purchase needs.
@transaction.atomic(savepoint=False)
def purchase_earn(
    *,
    account: PointAccount,
    source: Source,
    order_id: str,
    amount: Decimal,
    currency: str,
    occurred_at: datetime.datetime | None = None,
    items: list[dict[str, Any]] | None = None,
) -> PurchaseEarning:
    """Earn points for a purchase; the order id is the entry's reference, so one order never earns twice.

    ``account`` must come with its program and tier loaded (they decide the points).
    """
    program = account.program
    if not isinstance(amount, Decimal) or amount <= 0:
        raise InvalidInput(_("The amount must be more than zero."), field="amount")
    if (currency or "").upper() != program.currency:
        raise CurrencyMismatch(
            _("This program earns in %(currency)s only.") % {"currency": program.currency}, field="currency"
        )
    if occurred_at is not None and occurred_at > timezone.now():
        raise InvalidInput(_("A purchase cannot be in the future."), field="occurred_at")
    multiplier = account.tier.earn_multiplier if account.tier else Decimal(1)
    points = points_for_amount(program, amount, multiplier)
    if points <= 0:
        return PurchaseEarning(points=0, entry=None)
    metadata = {"items": _clean_items(items)} if items else {}
    entry = points_credit(
        account=account,
        points=points,
        source=source,
        kind=EntryKind.EARN,
        external_reference=order_id,
        effective_at=occurred_at,
        spend_amount=amount,
        metadata=metadata,
    )
    return PurchaseEarning(points=points, entry=entry)
