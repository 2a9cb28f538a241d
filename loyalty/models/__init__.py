from loyalty.models.adjustments import AdjustmentRequest
from loyalty.models.imports import (  # noqa: F401
    ColumnMapping,
    ImportBatch,
    ImportBatchEvent,
    ImportedMember,
    ImportKind,
    ImportRowError,
)
from loyalty.models.ledger import (
    EntryKind,
    LedgerEntry,
    LotAllocation,
    PointAccount,
    PointLot,
    SourceType,
    TierChange,
)
from loyalty.models.partners import ApiKey, IdempotencyRecord, Partner, Scope, WebhookAttempt, WebhookDelivery  # noqa: F401
from loyalty.models.program import Program, Tier

__all__ = [
    "AdjustmentRequest",
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
