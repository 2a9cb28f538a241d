from loyalty.models.ledger import (
    EntryKind,
    LedgerEntry,
    LotAllocation,
    PointAccount,
    PointLot,
    SourceType,
    TierChange,
)
from loyalty.models.program import Program, Tier

__all__ = [
    "EntryKind",
    "LedgerEntry",
    "LotAllocation",
    "PointAccount",
    "PointLot",
    "Program",
    "SourceType",
    "Tier",
    "TierChange",
]
