from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from config.api import api_not_found
from config.api_docs import LocalRedocView, LocalSwaggerView

api_v1 = [
    path("", include("loyalty.api.urls")),
    path("", include("campaigns.api.urls")),
    re_path(r"", api_not_found),
]

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", LocalSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/docs/redoc/", LocalRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
]
