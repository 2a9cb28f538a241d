"""Partners and what they use the API with: keys, idempotency records and webhook deliveries.

- A partner belongs to one program; its keys act on that program's members only, and it sees only the ledger
  entries whose source is itself (``source_type='partner'``, ``source_id=str(partner.pk)``).
- An API key is shown once. Only its SHA-256 hex digest and a short public prefix are stored; a request is
  matched by prefix and then by a constant-time comparison of digests, so no password hashing runs per request.
  A key's scopes are a subset of its partner's; the effective scopes are the intersection at request time.
- An idempotency record is unique per (partner, key) and written in the same transaction as the write it
  guards, so the write and its stored response commit together or not at all.
- Webhook deliveries are an outbox: written in the transaction that raised the event, sent by Celery after it
  commits; every attempt is kept.
"""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty import events
from loyalty.models.program import Program


class Scope(models.TextChoices):
    MEMBERS_READ = "members:read", _("Look up members")
    MEMBERS_WRITE = "members:write", _("Enroll and update members")
    POINTS_READ = "points:read", _("Read balances, lots and own transactions")
    POINTS_EARN = "points:earn", _("Earn and credit points")
    POINTS_REDEEM = "points:redeem", _("Redeem points")
    POINTS_REVERSE = "points:reverse", _("Reverse own transactions")
    REWARDS_READ = "rewards:read", _("Read the rewards catalog")
    REWARDS_REDEEM = "rewards:redeem", _("Redeem rewards")


WEBHOOK_EVENT_CHOICES = [(event_type, event_type) for event_type in events.EVENT_TYPES]


def _scopes_field(verbose_name):
    return ArrayField(
        models.CharField(max_length=32, choices=Scope.choices),
        verbose_name=verbose_name,
        default=list,
        blank=True,
    )


class Partner(models.Model):
    name = models.CharField(_("name"), max_length=120, unique=True)
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="partners", verbose_name=_("program"))
    active = models.BooleanField(_("active"), default=True, help_text=_("An inactive partner's keys are refused."))
    scopes = _scopes_field(_("allowed scopes"))
    rate_limit = models.PositiveIntegerField(
        _("rate limit"), default=600, help_text=_("Requests per minute allowed to each of the partner's keys.")
    )
    webhook_url = models.URLField(_("webhook URL"), max_length=500, blank=True, default="")
    webhook_secret = models.CharField(
        _("webhook signing secret"), max_length=64, blank=True, default="", help_text=_("Set by the system.")
    )
    webhook_events = ArrayField(
        models.CharField(max_length=32, choices=WEBHOOK_EVENT_CHOICES),
        verbose_name=_("webhook events"),
        default=list,
        blank=True,
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("partner")
        verbose_name_plural = _("partners")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(rate_limit__gt=0), name="%(app_label)s_%(class)s_rate_limit"),
            models.CheckConstraint(
                condition=Q(scopes__contained_by=Scope.values), name="%(app_label)s_%(class)s_known_scopes"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ApiKey(models.Model):
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="api_keys", verbose_name=_("partner"))
    name = models.CharField(_("name"), max_length=80, help_text=_("Where the key is used, e.g. 'POS production'."))
    prefix = models.CharField(_("prefix"), max_length=8, unique=True)
    key_hash = models.CharField(_("SHA-256 of the key"), max_length=64)
    scopes = _scopes_field(_("scopes"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["partner", "-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(scopes__contained_by=Scope.values), name="%(app_label)s_%(class)s_known_scopes"
            ),
            models.CheckConstraint(
                condition=Q(key_hash__regex=r"^[0-9a-f]{64}$"), name="%(app_label)s_%(class)s_hash_is_sha256"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (lk_{self.prefix}_…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class IdempotencyRecord(models.Model):
    # No index of its own: the unique (partner, key) constraint leads with the partner.
    partner = models.ForeignKey(
        Partner, on_delete=models.CASCADE, related_name="+", verbose_name=_("partner"), db_index=False
    )
    key = models.CharField(_("idempotency key"), max_length=255)
    fingerprint = models.CharField(_("request fingerprint"), max_length=64)
    method = models.CharField(_("method"), max_length=8)
    path = models.CharField(_("path"), max_length=255)
    status_code = models.PositiveSmallIntegerField(_("response status"), null=True, blank=True)
    # The rendered JSON text, so a replay is byte-for-byte the first response.
    response_body = models.TextField(_("response body"), blank=True, default="")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [
            models.UniqueConstraint(fields=["partner", "key"], name="%(app_label)s_%(class)s_key_per_partner"),
        ]
        indexes = [models.Index(fields=["created_at"], name="loyalty_idem_created_idx")]

    def __str__(self) -> str:
        return f"{self.partner_id}:{self.key}"


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Delivered")
        FAILED = "failed", _("Gave up")

    partner = models.ForeignKey(
        Partner, on_delete=models.PROTECT, related_name="webhook_deliveries", verbose_name=_("partner")
    )
    event_id = models.UUIDField(_("event id"), default=uuid.uuid4)
    event_type = models.CharField(_("event"), max_length=32, choices=WEBHOOK_EVENT_CHOICES)
    account_id = models.BigIntegerField(_("account"), null=True, blank=True)
    payload = models.JSONField(_("payload"))
    url = models.URLField(_("URL"), max_length=500)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_status_code = models.PositiveSmallIntegerField(_("last response code"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=255, blank=True, default="")
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "event_id"], name="%(app_label)s_%(class)s_event_once_per_partner"
            ),
        ]
        indexes = [
            models.Index(fields=["partner", "-id"], name="loyalty_webhook_partner_idx"),
            models.Index(fields=["next_attempt_at"], name="loyalty_webhook_due_idx", condition=Q(status="pending")),
            models.Index(fields=["event_id"], name="loyalty_webhook_event_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} → {self.partner_id}"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log", verbose_name=_("delivery")
    )
    number = models.PositiveSmallIntegerField(_("attempt"))
    attempted_at = models.DateTimeField(_("attempted at"), default=timezone.now)
    status_code = models.PositiveSmallIntegerField(_("response code"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=255, blank=True, default="")
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)

    class Meta:
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="%(app_label)s_%(class)s_number_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number}"

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
