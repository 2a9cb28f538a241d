"""Programs and tiers: a program's policies are data, read by the ledger services."""

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class Program(models.Model):
    class Rounding(models.TextChoices):
        DOWN = "down", _("Round down")
        HALF_UP = "half_up", _("Round half up")
        UP = "up", _("Round up")

    class ExpiryPolicy(models.TextChoices):
        NEVER = "never", _("Points never expire")
        ROLLING = "rolling", _("Rolling period after earning")
        FIXED_DATE = "fixed_date", _("Fixed date each year")
        INACTIVITY = "inactivity", _("After a period without activity")

    class PeriodUnit(models.TextChoices):
        DAYS = "days", _("Days")
        MONTHS = "months", _("Months")

    class NegativeBalancePolicy(models.TextChoices):
        FORBID = "forbid", _("Never below zero")
        WITHIN_PENDING = "within_pending", _("Below zero only as far as pending points cover")
        ALLOW = "allow", _("Allow a negative balance")

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=120)
    active = models.BooleanField(_("active"), default=True)
    points_name = models.CharField(_("points name"), max_length=40, default="points")
    currency = models.CharField(_("currency"), max_length=3, default="AED", help_text=_("ISO 4217 code"))
    earn_rate = models.DecimalField(
        _("earn rate"),
        max_digits=12,
        decimal_places=4,
        default=Decimal("1"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Points earned per one unit of currency spent, before tier multipliers."),
    )
    point_value = models.DecimalField(
        _("point value"),
        max_digits=12,
        decimal_places=6,
        default=Decimal("0.01"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Money value of one point, in the program currency (for liability reporting)."),
    )
    rounding = models.CharField(_("rounding"), max_length=10, choices=Rounding.choices, default=Rounding.DOWN)
    pending_days = models.PositiveIntegerField(
        _("pending days"), default=0, help_text=_("Earned points stay pending this many days (0: at once).")
    )
    expiry_policy = models.CharField(
        _("expiry policy"), max_length=12, choices=ExpiryPolicy.choices, default=ExpiryPolicy.NEVER
    )
    expiry_period = models.PositiveIntegerField(
        _("expiry period"), default=0, help_text=_("Length of the rolling or inactivity period.")
    )
    expiry_period_unit = models.CharField(
        _("expiry period unit"), max_length=6, choices=PeriodUnit.choices, default=PeriodUnit.MONTHS
    )
    expiry_round_to_period_end = models.BooleanField(
        _("round expiry to end of month"),
        default=False,
        help_text=_("Rolling expiry moves to the end of the month it falls in."),
    )
    expiry_fixed_month = models.PositiveSmallIntegerField(_("fixed expiry month"), null=True, blank=True)
    expiry_fixed_day = models.PositiveSmallIntegerField(_("fixed expiry day"), null=True, blank=True)
    negative_balance_policy = models.CharField(
        _("negative balance"),
        max_length=16,
        choices=NegativeBalancePolicy.choices,
        default=NegativeBalancePolicy.FORBID,
    )
    allow_transfers = models.BooleanField(_("allow transfers between members"), default=False)
    timezone = models.CharField(_("time zone"), max_length=64, default="Asia/Dubai")
    nightly_hour = models.PositiveSmallIntegerField(
        _("nightly jobs hour"), default=2, help_text=_("Local hour (0-23) at which nightly jobs run.")
    )
    expiry_warning_days = models.PositiveIntegerField(_("expiry warning days"), default=30)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("program")
        verbose_name_plural = _("programs")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(earn_rate__gte=0), name="%(app_label)s_%(class)s_earn_rate"),
            models.CheckConstraint(condition=models.Q(nightly_hour__lte=23), name="%(app_label)s_%(class)s_hour"),
            models.CheckConstraint(
                condition=~models.Q(expiry_policy__in=["rolling", "inactivity"]) | models.Q(expiry_period__gt=0),
                name="%(app_label)s_%(class)s_expiry_period_set",
            ),
            models.CheckConstraint(
                condition=~models.Q(expiry_policy="fixed_date")
                | models.Q(expiry_fixed_month__range=(1, 12), expiry_fixed_day__range=(1, 31)),
                name="%(app_label)s_%(class)s_fixed_expiry_set",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Tier(models.Model):
    class Metric(models.TextChoices):
        POINTS_EARNED = "points_earned", _("Points earned")
        SPEND = "spend", _("Money spent")

    class Window(models.TextChoices):
        LIFETIME = "lifetime", _("Lifetime")
        ROLLING_MONTHS = "rolling_months", _("Rolling months")
        CALENDAR_YEAR = "calendar_year", _("Calendar year")

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="tiers", verbose_name=_("program"))
    code = models.SlugField(_("code"), max_length=40)
    name = models.CharField(_("name"), max_length=80)
    rank = models.PositiveSmallIntegerField(_("rank"), help_text=_("0 is the entry tier; higher is better."))
    metric = models.CharField(_("metric"), max_length=16, choices=Metric.choices, default=Metric.POINTS_EARNED)
    window = models.CharField(_("window"), max_length=16, choices=Window.choices, default=Window.LIFETIME)
    window_months = models.PositiveSmallIntegerField(_("window months"), null=True, blank=True)
    threshold = models.DecimalField(
        _("threshold"),
        max_digits=14,
        decimal_places=2,
        default=Decimal("0"),
        help_text=_("Points earned, or money spent, within the window to reach this tier."),
    )
    earn_multiplier = models.DecimalField(_("earn multiplier"), max_digits=5, decimal_places=2, default=Decimal("1"))
    downgrade_grace_days = models.PositiveIntegerField(
        _("downgrade grace days"), default=0, help_text=_("Days a member keeps this tier after falling below it.")
    )

    class Meta:
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
        ordering = ["program", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["program", "rank"], name="%(app_label)s_%(class)s_rank_unique"),
            models.UniqueConstraint(fields=["program", "code"], name="%(app_label)s_%(class)s_code_unique"),
            models.CheckConstraint(condition=models.Q(threshold__gte=0), name="%(app_label)s_%(class)s_threshold"),
            models.CheckConstraint(
                condition=models.Q(earn_multiplier__gt=0), name="%(app_label)s_%(class)s_multiplier_positive"
            ),
            models.CheckConstraint(
                condition=~models.Q(window="rolling_months") | models.Q(window_months__gt=0),
                name="%(app_label)s_%(class)s_window_months_set",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.program.code})" if self.program_id else self.name
