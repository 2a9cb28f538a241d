from config.errors import DomainError, InvalidInput, NotFound


class AccountNotFound(NotFound):
    code = "account_not_found"


class AlreadyEnrolled(DomainError):
    code = "already_enrolled"


class ProgramInactive(DomainError):
    code = "program_inactive"


class ProgramChanging(DomainError):
    code = "program_changing"


class InsufficientPoints(DomainError):
    code = "insufficient_points"


class DuplicateReference(DomainError):
    code = "duplicate_reference"


class NotReversible(DomainError):
    code = "not_reversible"


class AlreadyReversed(DomainError):
    code = "already_reversed"


class ReversalExceedsEntry(DomainError):
    code = "reversal_exceeds_entry"


class TransferNotAllowed(DomainError):
    code = "transfer_not_allowed"


class NotPending(DomainError):
    code = "not_pending"


class AlreadyDecided(DomainError):
    code = "already_decided"


class SelfApproval(DomainError):
    code = "self_approval"


__all__ = [
    "AccountNotFound",
    "AlreadyDecided",
    "AlreadyEnrolled",
    "AlreadyReversed",
    "DuplicateReference",
    "InsufficientPoints",
    "InvalidInput",
    "NotPending",
    "NotReversible",
    "ProgramInactive",
    "ReversalExceedsEntry",
    "SelfApproval",
    "TransferNotAllowed",
]
