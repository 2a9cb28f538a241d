"""The API documentation pages (Swagger UI and Redoc), served entirely from this site.

drf-spectacular-sidecar serves the assets locally; Redoc's template links web fonts and its bundle shows a
remote logo, so Redoc uses a template without the fonts and both pages carry a Content-Security-Policy that
allows nothing from elsewhere.
"""

from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

# Nothing on the docs pages may come from elsewhere (Redoc's bundle would otherwise fetch a remote logo).
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; font-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; worker-src 'self' blob:; connect-src 'self'"
)


class _LocalDocsMixin:
    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Content-Security-Policy"] = DOCS_CONTENT_SECURITY_POLICY
        return response


class LocalSwaggerView(_LocalDocsMixin, SpectacularSwaggerView):
    pass


class LocalRedocView(_LocalDocsMixin, SpectacularRedocView):
    template_name = "api/redoc.html"
