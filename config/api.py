"""What every endpoint of the partner API shares: the error shape, the exception handler and pagination.

Every error leaves the API as ``{"error": {"code", "message", "fields"}}``: ``code`` is stable and meant for
machines, ``message`` for people, ``fields`` maps an input name to its messages. Domain errors keep their own
code; their HTTP status follows from their kind (not found → 404, bad input → 400, a conflict with something
that already exists → 409, any other broken business rule → 422).
"""

import math

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import CursorPagination, LimitOffsetPagination
from rest_framework.response import Response

from config.errors import DomainError, InvalidInput, NotFound

# Codes of domain errors that mean "this already exists or is happening": the request conflicts with state.
CONFLICT_CODES = frozenset(
    {
        "already_enrolled",
        "already_reversed",
        "duplicate_reference",
        "member_exists",
        "request_in_progress",
    }
)
NON_FIELD_KEYS = ("non_field_errors", "detail")


def domain_error_status(error: DomainError) -> int:
    if isinstance(error, NotFound):
        return status.HTTP_404_NOT_FOUND
    if isinstance(error, InvalidInput):
        return status.HTTP_400_BAD_REQUEST
    if error.code in CONFLICT_CODES:
        return status.HTTP_409_CONFLICT
    return status.HTTP_422_UNPROCESSABLE_ENTITY


def error_body(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error details as ``{"items.0.amount": ["..."]}``."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(detail, list) and detail and all(isinstance(item, str) for item in detail):
        return {prefix: [str(item) for item in detail]}
    if isinstance(detail, list):
        flat = {}
        for index, value in enumerate(detail):
            flat.update(_flatten(value, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    return {prefix: [str(detail)]}


def _validation_body(error: exceptions.ValidationError) -> dict:
    fields = _flatten(error.detail if isinstance(error.detail, dict) else {"non_field_errors": error.detail})
    general = [message for key in NON_FIELD_KEYS for message in fields.pop(key, [])]
    message = " ".join(general) or gettext("The request is not valid; see the fields for details.")
    return error_body("invalid", message, fields)


def _api_error_code(error: exceptions.APIException) -> str:
    codes = error.get_codes()
    if isinstance(codes, str):
        return codes
    return error.default_code


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """The one place an exception becomes an HTTP error response; anything else stays a server error."""
    if isinstance(exc, DomainError):
        fields = {exc.field: [exc.message]} if exc.field else {}
        return Response(error_body(exc.code, exc.message, fields), status=domain_error_status(exc))
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        headers["Retry-After"] = str(max(1, math.ceil(exc.wait)))
    if isinstance(exc, exceptions.ValidationError):
        body = _validation_body(exc)
    else:
        body = error_body(_api_error_code(exc), str(exc.detail))
    return Response(body, status=exc.status_code, headers=headers)


def api_not_found(request: HttpRequest, *args, **kwargs) -> JsonResponse:
    """Unknown API paths answer in the API's error shape, not with an HTML page."""
    return JsonResponse(error_body("not_found", gettext("No such endpoint.")), status=status.HTTP_404_NOT_FOUND)


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text=_("Stable machine-readable code, e.g. insufficient_points."))
    message = serializers.CharField(help_text=_("Human-readable explanation."))
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text=_("Input name → messages; empty when the error is not about one input."),
    )


class ErrorSerializer(serializers.Serializer):
    """The body of every error response."""

    error = ErrorDetailSerializer()


class IdCursorPagination(CursorPagination):
    """Newest first, stable under inserts, and no COUNT(*) on big tables."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 200
