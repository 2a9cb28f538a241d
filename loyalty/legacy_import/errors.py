from config.errors import DomainError, InvalidInput


class ImportNotAllowed(DomainError):
    """The batch is not in a state that allows this step (e.g. commit after undo)."""

    code = "import_not_allowed"


class ImportBusy(DomainError):
    code = "import_busy"


class ImportFileProblems(InvalidInput):
    """The file as a whole cannot be imported as mapped (missing or ambiguous columns, unknown columns)."""

    code = "import_file_problems"


class ImportUndoBlocked(DomainError):
    code = "import_undo_blocked"


__all__ = ["ImportBusy", "ImportFileProblems", "ImportNotAllowed", "ImportUndoBlocked"]
