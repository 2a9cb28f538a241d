"""The project's URLs plus two comparison views mounted only for the API benchmark."""

from django.urls import path

from bench.api_views import BareView, NaiveEarnView
from config.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    path("bench/naive-earn", NaiveEarnView.as_view()),
    path("bench/bare", BareView.as_view()),
    *project_urlpatterns,
]
