"""Writes about members. Every function validates, normalises and writes in one transaction."""

import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from config.errors import InvalidInput
from members.errors import DuplicateMember
from members.models import Member
from members.normalize import clean_text, normalize_country, normalize_email, normalize_phone

_TEXT_FIELDS = {"first_name": 150, "last_name": 150, "city": 100, "region": 100}
UPDATABLE_FIELDS = frozenset(
    {
        "email",
        "phone",
        "first_name",
        "last_name",
        "birth_date",
        "gender",
        "city",
        "region",
        "country",
        "preferred_language",
    }
)


def member_clean_fields(fields: dict[str, Any], *, default_region: str | None = None) -> dict[str, Any]:
    """Validate and normalise member attributes; raise InvalidInput naming the first bad field."""
    unknown = set(fields) - UPDATABLE_FIELDS
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidInput(_("%(name)s is not a member field that can be set.") % {"name": name}, field=name)
    cleaned: dict[str, Any] = {}
    for name, value in fields.items():
        if name in _TEXT_FIELDS:
            cleaned[name] = clean_text(value, field=name, max_length=_TEXT_FIELDS[name])
        elif name == "email":
            cleaned[name] = normalize_email(value)
        elif name == "phone":
            region = default_region or (fields.get("country") or "").strip().upper() or None
            cleaned[name] = normalize_phone(value, default_region=region)
        elif name == "country":
            cleaned[name] = normalize_country(value)
        elif name == "birth_date":
            cleaned[name] = _clean_birth_date(value)
        elif name == "gender":
            cleaned[name] = _clean_choice(value, Member.Gender.values, field=name)
        elif name == "preferred_language":
            cleaned[name] = _clean_choice(value or "en", [code for code, _ in settings.LANGUAGES], field=name)
    return cleaned


def _clean_choice(value: Any, allowed: list[str], *, field: str) -> str:
    text = (value or "").strip()
    if text and text not in allowed:
        raise InvalidInput(
            _("%(field)s must be one of: %(join)s.") % {"field": field, "join": ", ".join(allowed)}, field=field
        )
    return text


def _clean_birth_date(value: Any) -> datetime.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime.datetime) or not isinstance(value, datetime.date):
        try:
            value = datetime.date.fromisoformat(str(value))
        except ValueError as error:
            raise InvalidInput(_("birth_date must be a date (YYYY-MM-DD)."), field="birth_date") from error
    today = timezone.localdate()
    if value > today or value.year < 1900:
        raise InvalidInput(_("birth_date must be between 1900 and today."), field="birth_date")
    return value


@transaction.atomic
def member_create(
    *,
    external_id: str,
    enrollment_channel: str = Member.Channel.STAFF,
    joined_at: datetime.datetime | None = None,
    default_region: str | None = None,
    **fields: Any,
) -> Member:
    """Create a member from raw attributes, normalising them first."""
    external_id = clean_text(external_id, field="external_id", max_length=64)
    if not external_id:
        raise InvalidInput(_("external_id is required."), field="external_id")
    if enrollment_channel not in Member.Channel.values:
        raise InvalidInput(_("enrollment_channel is not a known channel."), field="enrollment_channel")
    if joined_at is not None and timezone.is_naive(joined_at):
        raise InvalidInput(_("joined_at must carry a time zone."), field="joined_at")
    cleaned = member_clean_fields(fields, default_region=default_region)
    member = Member(
        external_id=external_id,
        enrollment_channel=enrollment_channel,
        joined_at=joined_at or timezone.now(),
        **cleaned,
    )
    try:
        with transaction.atomic():
            member.save(force_insert=True)
    except IntegrityError as error:
        if Member.objects.filter(external_id=external_id).exists():
            raise DuplicateMember(
                _("A member with external_id '%(id)s' already exists.") % {"id": external_id}, field="external_id"
            ) from error
        raise
    return member


@transaction.atomic
def member_update(*, member: Member, default_region: str | None = None, **fields: Any) -> Member:
    """Change attributes of a member; only the given fields are touched."""
    cleaned = member_clean_fields(fields, default_region=default_region or member.country or None)
    for name, value in cleaned.items():
        setattr(member, name, value)
    member.save(update_fields=[*cleaned, "updated_at"])
    return member


@transaction.atomic
def member_block(*, member: Member, reason: str) -> Member:
    """Block a member: they can no longer earn or spend until unblocked."""
    reason = clean_text(reason, field="reason", max_length=255)
    if not reason:
        raise InvalidInput(_("A reason is required to block a member."), field="reason")
    member.status = Member.Status.BLOCKED
    member.blocked_reason = reason
    member.save(update_fields=["status", "blocked_reason", "updated_at"])
    return member


@transaction.atomic
def member_unblock(*, member: Member) -> Member:
    member.status = Member.Status.ACTIVE
    member.blocked_reason = ""
    member.save(update_fields=["status", "blocked_reason", "updated_at"])
    return member
