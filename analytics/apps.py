from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = _("Analytics")

    def ready(self) -> None:
        from config.permission_groups import sync_after_migrate

        # Models added after the groups' migration get their rights on the next migrate.
        post_migrate.connect(sync_after_migrate, dispatch_uid="config.permission_groups.sync")
