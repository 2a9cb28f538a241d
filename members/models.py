"""People. A member exists independently of any program; loyalty links them to programs through accounts.

Stored values are already normalised by ``members.services``: email lower-case, phone E.164, names NFC.
The database repeats the simplest of those rules as constraints.
"""

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Member(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        BLOCKED = "blocked", _("Blocked")

    class Gender(models.TextChoices):
        FEMALE = "female", _("Female")
        MALE = "male", _("Male")
        OTHER = "other", _("Other")
        UNDISCLOSED = "undisclosed", _("Prefers not to say")

    class Channel(models.TextChoices):
        POS = "pos", _("Point of sale")
        WEB = "web", _("Website")
        APP = "app", _("Mobile app")
        CALL_CENTRE = "call_centre", _("Call centre")
        STAFF = "staff", _("Staff (admin)")
        PARTNER = "partner", _("Partner API")
        IMPORT = "import", _("Import")

    external_id = models.CharField(_("external id"), max_length=64, unique=True)
    email = models.CharField(_("email"), max_length=254, blank=True, default="")
    phone = models.CharField(
        _("phone"), max_length=16, blank=True, default="", help_text=_("E.164, e.g. +971501234567")
    )
    first_name = models.CharField(_("first name"), max_length=150, blank=True, default="")
    last_name = models.CharField(_("last name"), max_length=150, blank=True, default="")
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    gender = models.CharField(_("gender"), max_length=16, choices=Gender.choices, blank=True, default="")
    city = models.CharField(_("city"), max_length=100, blank=True, default="")
    region = models.CharField(_("region"), max_length=100, blank=True, default="")
    country = models.CharField(_("country"), max_length=2, blank=True, default="", help_text=_("ISO 3166-1 alpha-2"))
    preferred_language = models.CharField(
        _("preferred language"), max_length=8, choices=settings.LANGUAGES, default="en"
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    blocked_reason = models.CharField(_("blocked reason"), max_length=255, blank=True, default="")
    joined_at = models.DateTimeField(_("joined at"), default=timezone.now)
    enrollment_channel = models.CharField(
        _("enrollment channel"), max_length=16, choices=Channel.choices, default=Channel.STAFF
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        ordering = ["-id"]
        indexes = [
            # Prefix search on identifiers in the admin and exact look-ups in the API.
            models.Index(fields=["phone"], name="members_phone_idx", condition=~models.Q(phone="")),
            models.Index(fields=["external_id"], name="members_external_id_like", opclasses=["varchar_pattern_ops"]),
            # Serves exact look-ups by email as well as prefix search.
            models.Index(fields=["email"], name="members_email_like", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["status"], name="members_status_idx"),
            models.Index(fields=["joined_at"], name="members_joined_at_idx"),
            models.Index(fields=["enrollment_channel"], name="members_channel_idx"),
            models.Index(fields=["country"], name="members_country_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(email=Lower("email")), name="%(app_label)s_%(class)s_email_lowercase"
            ),
            models.CheckConstraint(
                condition=models.Q(phone="") | models.Q(phone__regex=r"^\+[1-9][0-9]{6,14}$"),
                name="%(app_label)s_%(class)s_phone_e164",
            ),
            models.CheckConstraint(
                condition=~models.Q(external_id=""), name="%(app_label)s_%(class)s_external_id_present"
            ),
        ]

    def __str__(self) -> str:
        name = self.full_name
        return f"{name} ({self.external_id})" if name else self.external_id

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    @property
    def is_blocked(self) -> bool:
        return self.status == self.Status.BLOCKED
