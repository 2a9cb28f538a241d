"""Every partner write goes through ``idempotent_response``: the Idempotency-Key header is required, the
response of the first run is stored with the write and replayed for the same key (see loyalty.idempotency)."""

import re
from collections.abc import Callable

from django.http import HttpResponse
from django.utils.translation import gettext as _
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request

from config.errors import InvalidInput
from loyalty.idempotency import idempotent_write, request_fingerprint

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_KEY_RE = re.compile(r"[\x21-\x7e]{1,255}")
_renderer = JSONRenderer()


def idempotency_key(request: Request) -> str:
    key = request.headers.get(IDEMPOTENCY_HEADER, "")
    if not key:
        raise InvalidInput(
            _("Send an Idempotency-Key header with every write."),
            field=IDEMPOTENCY_HEADER,
            code="idempotency_key_missing",
        )
    if not _KEY_RE.fullmatch(key):
        raise InvalidInput(
            _("The Idempotency-Key must be 1 to 255 visible ASCII characters."),
            field=IDEMPOTENCY_HEADER,
            code="idempotency_key_invalid",
        )
    return key


def idempotent_response(request: Request, perform: Callable[[], tuple[int, dict]]) -> HttpResponse:
    """Run ``perform`` (returning status and data) once for the request's key, or replay its first response."""
    key = idempotency_key(request)

    def perform_and_render() -> tuple[int, str]:
        status_code, data = perform()
        return status_code, _renderer.render(data).decode()

    result = idempotent_write(
        partner_id=request.auth.partner_id,
        key=key,
        method=request.method,
        path=request.path,
        fingerprint=request_fingerprint(request.method, request.path, request.data),
        perform=perform_and_render,
    )
    response = HttpResponse(result.body, status=result.status_code, content_type="application/json")
    if result.replayed:
        response[REPLAYED_HEADER] = "true"
    return response
