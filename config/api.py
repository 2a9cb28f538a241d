"""What every endpoint of the partner API shares: the error shape, the exception handler and pagination.

Every error leaves the API as ``{"error": {"code", "message", "fields"}}``: ``code`` is stable and meant for
machines, ``message`` for people, ``fields`` maps an input name to its messages. Domain errors keep their own
code; their HTTP status follows from their kind (not found → 404, bad input → 400, a conflict with something
that already exists → 409, any other broken business rule → 422).
"""

import math
from collections.abc import Mapping

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt
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
        "program_changing",
        "request_in_progress",
    }
)
NON_FIELD_KEYS = ("non_field_errors", "detail")
# Offset paging is for short lists (a member's lots); deeper than this, narrow the query instead.
MAX_OFFSET = 10_000


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


class StrictInputSerializer(serializers.Serializer):
    """Input where a text field must arrive as a JSON string: DRF would quietly turn 12 into "12"."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            wrong_type = {
                name: [gettext("Must be a string.")]
                for name, field in self.fields.items()
                if isinstance(field, serializers.CharField)
                and not field.read_only
                and data.get(name) is not None
                and not isinstance(data[name], str)
            }
            if wrong_type:
                raise exceptions.ValidationError(wrong_type)
        return super().to_internal_value(data)


@csrf_exempt  # like every API view: key-authenticated, never cookie-authenticated
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


def _strict_page_size(request, *, name: str, default: int, maximum: int) -> int:
    """A page size parameter that is present must be a whole number from 1 to ``maximum``: else a 400."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        message = gettext("Must be a whole number from 1 to %(maximum)d.") % {"maximum": maximum}
        raise exceptions.ValidationError({name: [message]})
    return int(raw)


class IdCursorPagination(CursorPagination):
    """Newest first, stable under inserts, and no COUNT(*) on big tables."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request) -> int:
        return _strict_page_size(
            request, name=self.page_size_query_param, default=self.page_size, maximum=self.max_page_size
        )

    def decode_cursor(self, request):
        if request.query_params.get(self.cursor_query_param) == "":
            raise exceptions.ValidationError({self.cursor_query_param: [self.invalid_cursor_message]})
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound as error:
            raise exceptions.ValidationError({self.cursor_query_param: [str(error.detail)]}) from error

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_page_size}
            elif parameter["name"] == self.cursor_query_param:
                parameter["schema"] = {"type": "string", "minLength": 1}
        return parameters


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 200

    def get_limit(self, request) -> int:
        return _strict_page_size(
            request, name=self.limit_query_param, default=self.default_limit, maximum=self.max_limit
        )

    def get_offset(self, request) -> int:
        raw = request.query_params.get(self.offset_query_param, "0")
        if not raw.isdigit() or int(raw) > MAX_OFFSET:
            message = gettext("Must be a whole number from 0 to %(maximum)d.") % {"maximum": MAX_OFFSET}
            raise exceptions.ValidationError({self.offset_query_param: [message]})
        return int(raw)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        bounds = {self.limit_query_param: (1, self.max_limit), self.offset_query_param: (0, MAX_OFFSET)}
        for parameter in parameters:
            low, high = bounds[parameter["name"]]
            parameter["schema"] = {"type": "integer", "minimum": low, "maximum": high}
        return parameters
