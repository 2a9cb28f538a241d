"""Domain events raised by the ledger services (points earned, redeemed, reversed, member enrolled, ...).

Services call ``emit`` inside their transaction. Handlers (webhooks, notifications) are registered at start-up
and run synchronously in that same transaction, so they can write an outbox row that commits or rolls back with
the entry; anything that leaves the process must be queued with ``transaction.on_commit``.
"""

from collections.abc import Callable
from typing import Any

POINTS_EARNED = "points.earned"
POINTS_REDEEMED = "points.redeemed"
POINTS_REVERSED = "points.reversed"
POINTS_EXPIRING = "points.expiring"
POINTS_EXPIRED = "points.expired"
TIER_CHANGED = "tier.changed"
MEMBER_ENROLLED = "member.enrolled"
EVENT_TYPES = (
    POINTS_EARNED,
    POINTS_REDEEMED,
    POINTS_REVERSED,
    POINTS_EXPIRING,
    POINTS_EXPIRED,
    TIER_CHANGED,
    MEMBER_ENROLLED,
)

Handler = Callable[[str, int, dict[str, Any]], None]
_handlers: list[Handler] = []


def subscribe(handler: Handler) -> None:
    """Register ``handler(event_type, account_id, data)``; registering the same handler twice is a no-op."""
    if handler not in _handlers:
        _handlers.append(handler)


def unsubscribe(handler: Handler) -> None:
    if handler in _handlers:
        _handlers.remove(handler)


def emit(event_type: str, *, account_id: int, data: dict[str, Any]) -> None:
    for handler in _handlers:
        handler(event_type, account_id, data)
