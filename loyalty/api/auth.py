"""Who may call the partner API, with what, and how often.

- ``PartnerKeyAuthentication``: ``Authorization: Bearer <key>`` (or ``X-Api-Key: <key>``); a key that is
  unknown, revoked, or belongs to an inactive partner is a 401.
- ``ScopePermission``: each view names the scope each method needs; a key without it is a 403.
- ``PartnerKeyThrottle``: a fixed one-minute window per key, sized by the partner's rate limit; beyond it a
  429 with ``Retry-After`` (seconds until the window ends). Counters live in the default cache, so they are
  per process with the local-memory cache and shared with Redis.
"""

import time

from django.core.cache import cache
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework.throttling import BaseThrottle

from loyalty.partners import PartnerCredentials, api_key_authenticate

THROTTLE_WINDOW_SECONDS = 60


class PartnerKeyAuthentication(BaseAuthentication):
    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header:
            scheme, _space, raw_key = header.partition(" ")
            if scheme.lower() != "bearer":
                return None
        else:
            raw_key = request.META.get("HTTP_X_API_KEY", "")
        raw_key = raw_key.strip()
        if not raw_key:
            return None
        credentials = api_key_authenticate(raw_key)
        if credentials is None:
            raise AuthenticationFailed(_("The API key is unknown, revoked or not active."), code="invalid_api_key")
        return credentials, credentials

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class ScopePermission(BasePermission):
    """Allows a method when the key holds the scope the view's ``required_scopes`` names for it."""

    def has_permission(self, request, view) -> bool:
        credentials = request.auth
        if not isinstance(credentials, PartnerCredentials):
            return False
        method = "GET" if request.method in ("HEAD", "OPTIONS") else request.method
        scope = view.required_scopes.get(method)
        # A method the view does not name has no handler either: the view answers 405.
        if scope is None or credentials.has_scope(scope):
            return True
        self.message = _("This API key does not have the %(scope)s scope.") % {"scope": scope}
        self.code = "scope_missing"
        return False


class PartnerKeyThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        credentials = request.auth
        if not isinstance(credentials, PartnerCredentials):
            return True
        now = time.time()
        window = int(now // THROTTLE_WINDOW_SECONDS)
        key = f"loyalty:throttle:{credentials.key_id}:{window}"
        if cache.add(key, 1, THROTTLE_WINDOW_SECONDS + 1):
            count = 1
        else:
            try:
                count = cache.incr(key)
            except ValueError:  # expired between the two calls
                cache.add(key, 1, THROTTLE_WINDOW_SECONDS + 1)
                count = 1
        if count <= credentials.rate_limit:
            return True
        self._wait = (window + 1) * THROTTLE_WINDOW_SECONDS - now
        return False

    def wait(self) -> float:
        return self._wait


class PartnerKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "loyalty.api.auth.PartnerKeyAuthentication"
    name = "PartnerKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "lk_<prefix>_<secret>",
            "description": _("An API key issued to your partner account, e.g. `Authorization: Bearer lk_ab12…`."),
        }
