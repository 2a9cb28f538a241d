"""The points ledger.

Invariants (held by ``loyalty.services`` and, where it can, by the database; checked by ``reconcile``):

1. Points are integers. A ledger entry's points are signed and never zero.
2. Entries and lot allocations are append-only: database triggers refuse UPDATE and DELETE. A correction,
   refund, expiry or undo is a new entry; a reversal points at the entry it reverses.
3. Every credit creates one or more lots. A lot is pending until ``activated_at`` is set. Every change to a
   lot's ``remaining`` after its creation is an allocation row ``(entry, lot, points)``, so
   ``lot.remaining = lot.points + Σ allocations of the lot``. Debits take active lots soonest-expiring first;
   reversing a debit gives back exactly the lots it took.
4. The account caches ``available`` and ``pending``; they change only in the transaction that writes the entry,
   with the account row locked. ``available + pending = Σ entry points``,
   ``pending = Σ remaining of pending lots`` and ``available = Σ remaining of active lots - uncovered debt``,
   where a debt (a debit not backed by lot points, under a policy that allows it) is paid from the next points
   that become available, so active lots never hold points while the account owes some.
   The CHECK ``account_balance_policy`` keeps ``available`` within the program's negative-balance policy,
   which is copied onto the account so the database can enforce it.
5. Every entry names its source (staff user, partner, import batch, campaign, system job) and may carry an
   external reference that is unique per source.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.models.program import Program, Tier


class PointAccount(models.Model):
    """A member's enrolment in a program, with cached balances."""

    # Indexed by the unique (member, program) constraint.
    member = models.ForeignKey(
        "members.Member", on_delete=models.PROTECT, related_name="accounts", verbose_name=_("member"), db_index=False
    )
    # Indexed by ``loyalty_account_prog_tier_idx`` (program, tier).
    program = models.ForeignKey(
        Program, on_delete=models.PROTECT, related_name="accounts", verbose_name=_("program"), db_index=False
    )
    # Indexed by ``loyalty_account_prog_tier_idx`` (program, tier): tiers belong to one program.
    tier = models.ForeignKey(
        Tier,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="accounts",
        verbose_name=_("tier"),
        db_index=False,
    )
    tier_achieved_at = models.DateTimeField(_("tier since"), null=True, blank=True)
    tier_grace_until = models.DateTimeField(
        _("tier kept until"), null=True, blank=True, help_text=_("Set while a member is below their tier.")
    )
    available = models.BigIntegerField(_("available"), default=0)
    pending = models.BigIntegerField(_("pending"), default=0)
    lifetime_earned = models.BigIntegerField(_("lifetime earned"), default=0)
    lifetime_spent = models.BigIntegerField(_("lifetime spent"), default=0)
    lifetime_expired = models.BigIntegerField(_("lifetime expired"), default=0)
    negative_balance_policy = models.CharField(
        max_length=16, choices=Program.NegativeBalancePolicy.choices, default=Program.NegativeBalancePolicy.FORBID
    )
    last_activity_at = models.DateTimeField(_("last activity"), null=True, blank=True)
    created_at = models.DateTimeField(_("enrolled at"), default=timezone.now)

    class Meta:
        verbose_name = _("point account")
        verbose_name_plural = _("point accounts")
        constraints = [
            models.UniqueConstraint(fields=["member", "program"], name="%(app_label)s_%(class)s_member_program"),
            models.CheckConstraint(condition=Q(pending__gte=0), name="%(app_label)s_%(class)s_pending_nonnegative"),
            models.CheckConstraint(
                condition=Q(lifetime_earned__gte=0) & Q(lifetime_spent__gte=0) & Q(lifetime_expired__gte=0),
                name="%(app_label)s_%(class)s_lifetime_nonnegative",
            ),
            models.CheckConstraint(
                condition=Q(available__gte=0)
                | Q(negative_balance_policy="allow")
                | Q(negative_balance_policy="within_pending", available__gte=-models.F("pending")),
                name="%(app_label)s_%(class)s_balance_policy",
            ),
        ]
        indexes = [
            models.Index(fields=["program", "tier"], name="loyalty_account_prog_tier_idx"),
            models.Index(fields=["program", "last_activity_at"], name="loyalty_account_activity_idx"),
        ]

    def __str__(self) -> str:
        # Lists that show accounts select the member and program with them (list_select_related).
        return f"{self.member.external_id} · {self.program.code}"


class EntryKind(models.TextChoices):
    EARN = "earn", _("Earn")
    REDEEM = "redeem", _("Redeem")
    ADJUST = "adjust", _("Manual adjustment")
    EXPIRE = "expire", _("Expiry")
    REVERSE = "reverse", _("Reversal")
    TRANSFER_IN = "transfer_in", _("Transfer in")
    TRANSFER_OUT = "transfer_out", _("Transfer out")
    IMPORT = "import", _("Imported balance")


class SourceType(models.TextChoices):
    STAFF = "staff", _("Staff user")
    PARTNER = "partner", _("Partner")
    IMPORT = "import", _("Import batch")
    CAMPAIGN = "campaign", _("Campaign or rule")
    SYSTEM = "system", _("System job")
    MEMBER = "member", _("Member")


class LedgerEntry(models.Model):
    # Indexed by ``loyalty_entry_account_idx`` (account, -id); a second single-column index would only cost writes.
    account = models.ForeignKey(
        PointAccount, on_delete=models.PROTECT, related_name="entries", verbose_name=_("account"), db_index=False
    )
    kind = models.CharField(_("kind"), max_length=16, choices=EntryKind.choices)
    points = models.BigIntegerField(_("points"))
    effective_at = models.DateTimeField(_("effective at"), default=timezone.now)
    created_at = models.DateTimeField(_("recorded at"), default=timezone.now)
    source_type = models.CharField(_("source"), max_length=16, choices=SourceType.choices)
    source_id = models.CharField(
        _("source id"), max_length=64, blank=True, default="", help_text=_("Which partner, batch, campaign or job.")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("staff user"),
        db_index=False,
    )
    # NULL, not "", means "no reference", so the per-source unique constraint ignores entries without one.
    external_reference = models.CharField(_("external reference"), max_length=128, null=True, blank=True)  # noqa: DJ001
    reverses = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversals",
        verbose_name=_("reverses"),
        db_index=False,
    )
    spend_amount = models.DecimalField(_("spend amount"), max_digits=14, decimal_places=2, null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=3, blank=True, default="")
    reason = models.CharField(_("reason"), max_length=255, blank=True, default="")
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)

    class Meta:
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(points=0), name="%(app_label)s_%(class)s_points_nonzero"),
            models.UniqueConstraint(
                fields=["source_type", "source_id", "external_reference"],
                condition=Q(external_reference__isnull=False),
                name="%(app_label)s_%(class)s_reference_unique_per_source",
            ),
            models.CheckConstraint(
                condition=Q(reverses__isnull=True) | Q(kind="reverse"),
                name="%(app_label)s_%(class)s_only_reversals_point_back",
            ),
            models.CheckConstraint(
                condition=~Q(kind="reverse") | Q(reverses__isnull=False),
                name="%(app_label)s_%(class)s_reversal_points_back",
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=["earn", "transfer_in", "import"]) | Q(points__gt=0),
                name="%(app_label)s_%(class)s_credit_kinds_positive",
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=["redeem", "expire", "transfer_out"]) | Q(points__lt=0),
                name="%(app_label)s_%(class)s_debit_kinds_negative",
            ),
        ]
        indexes = [
            models.Index(fields=["account", "-id"], name="loyalty_entry_account_idx"),
            models.Index(fields=["kind", "-id"], name="loyalty_entry_kind_idx"),
            # A partner's own transactions, newest first; also serves the admin's filter by source type.
            models.Index(fields=["source_type", "source_id", "-id"], name="loyalty_entry_source_id_idx"),
            models.Index(fields=["effective_at"], name="loyalty_entry_effective_idx"),
            models.Index(fields=["created_at"], name="loyalty_entry_created_idx"),
            # Most entries are neither reversals nor made by staff: only those that are need an index entry.
            models.Index(fields=["reverses"], name="loyalty_entry_reverses_idx", condition=Q(reverses__isnull=False)),
            models.Index(
                fields=["created_by"], name="loyalty_entry_created_by_idx", condition=Q(created_by__isnull=False)
            ),
            models.Index(
                fields=["external_reference"],
                name="loyalty_entry_reference_like",
                opclasses=["varchar_pattern_ops"],
                condition=Q(external_reference__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.points:+d}"


class PointLot(models.Model):
    """Points from one credit, consumed by debits and expiry; pending until ``activated_at`` is set."""

    account = models.ForeignKey(PointAccount, on_delete=models.PROTECT, related_name="lots", verbose_name=_("account"))
    entry = models.ForeignKey(LedgerEntry, on_delete=models.PROTECT, related_name="lots", verbose_name=_("credit"))
    points = models.BigIntegerField(_("points"))
    remaining = models.BigIntegerField(_("remaining"))
    activates_at = models.DateTimeField(
        _("activates at"), null=True, blank=True, help_text=_("Empty while pending: waits for an event.")
    )
    activated_at = models.DateTimeField(_("activated at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    expiry_warned_at = models.DateTimeField(_("expiry warning sent"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("point lot")
        verbose_name_plural = _("point lots")
        ordering = ["expires_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(points__gt=0), name="%(app_label)s_%(class)s_points_positive"),
            models.CheckConstraint(
                condition=Q(remaining__gte=0) & Q(remaining__lte=models.F("points")),
                name="%(app_label)s_%(class)s_remaining_within_points",
            ),
        ]
        indexes = [
            # Debits: an account's spendable lots, soonest-expiring first.
            models.Index(
                fields=["account", "expires_at", "id"],
                name="loyalty_lot_spendable_idx",
                condition=Q(remaining__gt=0, activated_at__isnull=False),
            ),
            models.Index(
                fields=["activates_at"], name="loyalty_lot_pending_idx", condition=Q(activated_at__isnull=True)
            ),
            models.Index(
                fields=["expires_at"],
                name="loyalty_lot_expiring_idx",
                condition=Q(remaining__gt=0, expires_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"lot #{self.pk}: {self.remaining}/{self.points}"

    @property
    def is_pending(self) -> bool:
        return self.activated_at is None


class LotAllocation(models.Model):
    """A change to a lot's remaining points made by an entry (negative: taken, positive: given back)."""

    entry = models.ForeignKey(LedgerEntry, on_delete=models.PROTECT, related_name="allocations")
    lot = models.ForeignKey(PointLot, on_delete=models.PROTECT, related_name="allocations")
    points = models.BigIntegerField()

    class Meta:
        verbose_name = _("lot allocation")
        verbose_name_plural = _("lot allocations")
        constraints = [
            models.CheckConstraint(condition=~Q(points=0), name="%(app_label)s_%(class)s_points_nonzero"),
        ]
        indexes = [models.Index(fields=["entry"], name="loyalty_alloc_entry_idx")]

    def __str__(self) -> str:
        return f"entry {self.entry_id} lot {self.lot_id} {self.points:+d}"


class TierChange(models.Model):
    class Reason(models.TextChoices):
        ENROLLED = "enrolled", _("Enrolled")
        UPGRADE = "upgrade", _("Qualified for a higher tier")
        DOWNGRADE = "downgrade", _("Fell below the tier after any grace")
        GRACE_STARTED = "grace_started", _("Fell below the tier; grace period started")
        MANUAL = "manual", _("Set by staff")
        IMPORT = "import", _("Imported")

    # Indexed by ``loyalty_tierchange_account_idx`` (account, -changed_at).
    account = models.ForeignKey(PointAccount, on_delete=models.PROTECT, related_name="tier_changes", db_index=False)
    from_tier = models.ForeignKey(
        Tier, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    to_tier = models.ForeignKey(Tier, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    reason = models.CharField(_("reason"), max_length=16, choices=Reason.choices)
    metric_value = models.DecimalField(_("metric value"), max_digits=16, decimal_places=2, null=True, blank=True)
    note = models.CharField(_("note"), max_length=255, blank=True, default="")
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    changed_at = models.DateTimeField(_("changed at"), default=timezone.now)

    class Meta:
        verbose_name = _("tier change")
        verbose_name_plural = _("tier changes")
        ordering = ["-changed_at", "-id"]
        indexes = [
            models.Index(fields=["account", "-changed_at"], name="loyalty_tierchange_account_idx"),
            models.Index(fields=["-changed_at", "-id"], name="loyalty_tierchange_recent_idx"),
            # Enrolments and imports have no previous tier, and jobs no staff user: partial indexes skip them.
            models.Index(
                fields=["from_tier"], name="loyalty_tierchange_from_idx", condition=Q(from_tier__isnull=False)
            ),
            models.Index(
                fields=["changed_by"], name="loyalty_tierchange_by_idx", condition=Q(changed_by__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.from_tier_id} → {self.to_tier_id}"
