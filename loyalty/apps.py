from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LoyaltyConfig(AppConfig):
    name = "loyalty"
    verbose_name = _("Points")

    def ready(self) -> None:
        # Every process (web, worker, command, test) loads the apps, so every one sends webhooks for its events.
        from loyalty import events, webhooks

        events.subscribe(webhooks.on_domain_event)
