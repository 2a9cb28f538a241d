from django.contrib.admin.apps import AdminConfig


class OperatorAdminConfig(AdminConfig):
    """Django's admin, served by the operator console site (sections by job instead of by app)."""

    default_site = "config.admin_site.OperatorAdminSite"
