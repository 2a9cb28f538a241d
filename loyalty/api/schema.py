"""OpenAPI pieces every partner endpoint shares: the Idempotency-Key header, error responses, examples."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse

from config.api import ErrorSerializer, error_body

IDEMPOTENCY_KEY = OpenApiParameter(
    name="Idempotency-Key",
    type={"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    location=OpenApiParameter.HEADER,
    required=True,
    description=_(
        "A unique key per logical write (e.g. a UUID), 1 to 255 visible ASCII characters. Retrying with the same key "
        "and body replays the first response (header `Idempotent-Replayed: true`) for 24 hours; the same key with "
        "a different body is refused with 422."
    ),
)

# Path ids: bigints that the URL patterns accept (up to 18 digits).
ID_SCHEMA = {"type": "integer", "format": "int64", "minimum": 1, "maximum": 999_999_999_999_999_999}
MEMBER_ID = OpenApiParameter("member_id", ID_SCHEMA, OpenApiParameter.PATH, description=_("The member's id."))
TRANSACTION_ID = OpenApiParameter(
    "transaction_id", ID_SCHEMA, OpenApiParameter.PATH, description=_("The transaction's id.")
)

_ERRORS = {
    400: (
        _("The input is not valid."),
        error_body(
            "invalid", "The request is not valid.", {"points": ["Ensure this value is greater than or equal to 1."]}
        ),
    ),
    401: (
        _("No API key, or an unknown or revoked one."),
        error_body("invalid_api_key", "The API key is unknown, revoked or not active."),
    ),
    403: (
        _("The API key lacks the scope this endpoint needs."),
        error_body("scope_missing", "This API key does not have the points:earn scope."),
    ),
    404: (
        _("Not found among what your partner account may see."),
        error_body(
            "member_not_found",
            "No such member is enrolled in your program.",
            {"member": ["No such member is enrolled in your program."]},
        ),
    ),
    409: (
        _("Conflicts with something that exists: a reference already used, a member already enrolled."),
        error_body(
            "duplicate_reference",
            "Reference 'ORD-1001' was already used by this source.",
            {"external_reference": ["Reference 'ORD-1001' was already used by this source."]},
        ),
    ),
    422: (
        _(
            "A business rule refused the request (e.g. not enough points), or the Idempotency-Key was used for "
            "a different request."
        ),
        error_body(
            "insufficient_points",
            "Account has 120 points available; 500 were requested.",
            {"points": ["Account has 120 points available; 500 were requested."]},
        ),
    ),
    429: (
        _("Over the rate limit of your key; retry after the number of seconds in Retry-After."),
        error_body("throttled", "Request was throttled. Expected available in 12 seconds."),
    ),
}


def error_responses(*status_codes: int) -> dict[int, OpenApiResponse]:
    """Error responses for the schema, each with its example; 401 and 429 apply to every endpoint."""
    codes = sorted({401, 429, *status_codes})
    return {
        code: OpenApiResponse(
            ErrorSerializer,
            description=_ERRORS[code][0],
            examples=[OpenApiExample(f"error {code}", value=_ERRORS[code][1], status_codes=[str(code)])],
        )
        for code in codes
    }


def response_example(name: str, value, *, status_code: int = 200) -> OpenApiExample:
    return OpenApiExample(name, value=value, response_only=True, status_codes=[str(status_code)])


def request_example(name: str, value) -> OpenApiExample:
    return OpenApiExample(name, value=value, request_only=True)


TIER_EXAMPLE = {"code": "gold", "name": "Gold", "earn_multiplier": "1.50"}
BALANCE_EXAMPLE = {
    "available": 1270,
    "pending": 0,
    "lifetime_earned": 1500,
    "lifetime_spent": 230,
    "lifetime_expired": 0,
    "tier": TIER_EXAMPLE,
}
TRANSACTION_EXAMPLE = {
    "id": 918273,
    "member_id": 4711,
    "kind": "earn",
    "points": 375,
    "reference": "ORD-1001",
    "reverses": None,
    "amount": "250.00",
    "currency": "AED",
    "reason": "",
    "metadata": {"items": [{"sku": "SKU-1", "quantity": 2, "amount": "250.00"}]},
    "effective_at": "2026-11-23T10:15:00+04:00",
    "created_at": "2026-11-23T10:15:01+04:00",
}
MEMBER_EXAMPLE = {
    "id": 4711,
    "external_id": "CARD-000123",
    "email": "aisha@example.com",
    "phone": "+971501234567",
    "first_name": "Aisha",
    "last_name": "Rahman",
    "birth_date": "1990-04-12",
    "gender": "female",
    "city": "Dubai",
    "region": "",
    "country": "AE",
    "preferred_language": "ar",
    "status": "active",
    "joined_at": "2026-11-23T10:00:00+04:00",
    "enrolled_at": "2026-11-23T10:00:00+04:00",
    "tier": {"code": "blue", "name": "Blue", "earn_multiplier": "1.00"},
}
