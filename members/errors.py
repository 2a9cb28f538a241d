from config.errors import DomainError, InvalidInput, NotFound


class MemberNotFound(NotFound):
    code = "member_not_found"


class MemberBlocked(DomainError):
    code = "member_blocked"


class DuplicateMember(DomainError):
    code = "member_exists"


__all__ = ["DuplicateMember", "InvalidInput", "MemberBlocked", "MemberNotFound"]
