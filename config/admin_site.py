"""The operator console: the Django admin grouped by the jobs people do rather than by Django app.

A model lands in a section by, in order: its ModelAdmin's ``admin_section`` attribute; the explicit
``MODEL_SECTIONS`` map; a word in its model name (so later models such as ``ImportBatch`` or ``WebhookDelivery``
find their place without touching this file); its app; and finally ``DEFAULT_SECTION``.
Per-app pages (``/admin/<app>/``, used by breadcrumbs) keep Django's grouping.
"""

from django.contrib import admin
from django.http import Http404, HttpRequest
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

SECTIONS = {
    "members": _("Members"),
    "points": _("Points"),
    "rewards": _("Rewards"),
    "campaigns": _("Campaigns"),
    "reports": _("Reports"),
    "imports": _("Imports"),
    "partners": _("Partners"),
    "settings": _("Settings"),
}
DEFAULT_SECTION = "settings"
MODEL_SECTIONS = {
    "loyalty.program": "settings",
    "loyalty.tier": "settings",
    "auth.user": "settings",
    "auth.group": "settings",
}
# Checked in order against the lower-case model name.
NAME_SECTIONS = (
    ("import", "imports"),
    ("partner", "partners"),
    ("apikey", "partners"),
    ("webhook", "partners"),
    ("idempotency", "partners"),
    ("report", "reports"),
    ("rollup", "reports"),
)
APP_SECTIONS = {
    "members": "members",
    "loyalty": "points",
    "rewards": "rewards",
    "campaigns": "campaigns",
    "analytics": "reports",
}


def section_of(model, model_admin=None) -> str:
    """The key of the section a registered model is listed under."""
    declared = getattr(model_admin, "admin_section", None)
    if declared in SECTIONS:
        return declared
    label = model._meta.label_lower
    if label in MODEL_SECTIONS:
        return MODEL_SECTIONS[label]
    name = model._meta.model_name
    for word, section in NAME_SECTIONS:
        if word in name:
            return section
    return APP_SECTIONS.get(model._meta.app_label, DEFAULT_SECTION)


class OperatorAdminSite(admin.AdminSite):
    site_header = _("Loyalty program manager")
    site_title = _("Loyalty admin")
    index_title = _("Operator console")

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict]:
        apps = super().get_app_list(request, app_label)
        if app_label is not None:
            return apps
        sections: dict[str, list[dict]] = {key: [] for key in SECTIONS}
        for app in apps:
            for model in app["models"]:
                sections[section_of(model["model"], self._registry.get(model["model"]))].append(model)
        return [
            {
                "name": SECTIONS[key],
                "app_label": key,
                "app_url": reverse("admin:section", kwargs={"section": key}, current_app=self.name),
                "has_module_perms": True,
                "models": sorted(models, key=lambda model: str(model["name"])),
            }
            for key, models in sections.items()
            if models
        ]

    def get_urls(self):
        urls = super().get_urls()
        section_url = path("section/<slug:section>/", self.admin_view(self.section_index), name="section")
        return [section_url, *urls]

    def section_index(self, request: HttpRequest, section: str):
        """One section of the console: the models of that job the user may see."""
        app_list = [app for app in self.get_app_list(request) if app["app_label"] == section]
        if not app_list:
            raise Http404(_("The requested admin page does not exist."))
        context = {
            **self.each_context(request),
            "title": app_list[0]["name"],
            "subtitle": None,
            "app_list": app_list,
            "app_label": section,
        }
        request.current_app = self.name
        return TemplateResponse(request, self.app_index_template or "admin/app_index.html", context)
