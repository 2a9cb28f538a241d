"""Manual point adjustments by staff. Above a configured size they wait for a second person's approval."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.models.ledger import LedgerEntry, PointAccount


class AdjustmentRequest(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for approval")
        APPLIED = "applied", _("Applied")
        REJECTED = "rejected", _("Rejected")

    account = models.ForeignKey(
        PointAccount, on_delete=models.PROTECT, related_name="adjustment_requests", verbose_name=_("account")
    )
    points = models.BigIntegerField(_("points"), help_text=_("Positive to add points, negative to remove them."))
    reason = models.CharField(_("reason"), max_length=255)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by")
    )
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.CharField(_("decision note"), max_length=255, blank=True, default="")
    entry = models.OneToOneField(
        LedgerEntry,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="adjustment_request",
        verbose_name=_("ledger entry"),
    )

    class Meta:
        verbose_name = _("point adjustment")
        verbose_name_plural = _("point adjustments")
        ordering = ["-requested_at", "-id"]
        permissions = [("approve_adjustmentrequest", _("Can approve or reject point adjustments"))]
        constraints = [
            models.CheckConstraint(condition=~Q(points=0), name="%(app_label)s_%(class)s_points_nonzero"),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("requested_by")),
                name="%(app_label)s_%(class)s_four_eyes",
            ),
            models.CheckConstraint(
                condition=~Q(status="applied") | Q(entry__isnull=False),
                name="%(app_label)s_%(class)s_applied_has_entry",
            ),
        ]
        indexes = [
            models.Index(fields=["requested_at"], name="loyalty_adjust_pending_idx", condition=Q(status="pending")),
        ]

    def __str__(self) -> str:
        return f"{self.points:+d} for account {self.account_id} ({self.status})"
