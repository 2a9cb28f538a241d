"""The one base class for domain errors.

Every rule a service enforces fails with a subclass carrying a stable machine ``code``, a human message and,
where the error is about one input, the ``field`` it concerns. The API maps these to HTTP responses and the
admin to form errors; tests assert on ``code``.
"""


class DomainError(Exception):
    code = "domain_error"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "field": self.field}


class InvalidInput(DomainError):
    code = "invalid"


class NotFound(DomainError):
    code = "not_found"
