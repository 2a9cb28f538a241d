"""Partners and their API keys: every write about them, and the key check each API request makes.

A raw key looks like ``lk_<prefix>_<secret>``. It is returned once by ``api_key_create`` and never stored; the
database keeps the prefix (to find the row) and the SHA-256 hex digest of the whole key (to check it). The check
is a digest and a constant-time comparison — no password hashing — and its result (the partner, program,
effective scopes and rate limit) is cached for a few seconds per key. Revoking a key or changing a partner
drops the cached entries when the change commits; with a shared cache (Redis) that takes effect at once in every
process, with the per-process local-memory cache in each process after ``LOYALTY_API_KEY_CACHE_SECONDS``.
"""

import datetime
import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from config.errors import InvalidInput, NotFound
from loyalty import events
from loyalty.models import ApiKey, LedgerEntry, Partner, PointAccount, Program, Scope, SourceType
from loyalty.services import Source, entry_reverse, member_enroll
from loyalty.webhooks import webhook_partners_forget
from members.models import Member
from members.services import member_create

KEY_PREFIX_LENGTH = 8
_KEY_ALPHABET = string.ascii_lowercase + string.digits
_KEY_RE = re.compile(r"lk_([a-z0-9]{8})_([A-Za-z0-9_\-]{32,128})")
# last_used_at is written at most this often per key, so using a key costs no write per request.
LAST_USED_PRECISION = datetime.timedelta(minutes=1)
PARTNER_FIELDS = frozenset({"name", "active", "scopes", "rate_limit", "webhook_url", "webhook_events"})


@dataclass(frozen=True)
class PartnerCredentials:
    """What an authenticated request may do: the identity DRF sees as ``request.user`` and ``request.auth``."""

    key_id: int
    key_hash: str
    partner_id: int
    program_id: int
    scopes: frozenset[str]
    rate_limit: int

    is_authenticated = True
    is_anonymous = False

    @property
    def source(self) -> Source:
        return Source.partner(self.partner_id)

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


def key_digest(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def _cache_key(prefix: str) -> str:
    return f"loyalty:api-key:{prefix}"


def _forget_keys(prefixes: Iterable[str]) -> None:
    # Now and again at commit: a request in between may have cached the credentials as they were.
    keys = [_cache_key(prefix) for prefix in prefixes]
    if keys:
        cache.delete_many(keys)
        transaction.on_commit(lambda: cache.delete_many(keys))


# --------------------------------------------------------------------------------------------------------------
# Validation


def _clean_scopes(scopes: Iterable[str], *, allowed: Iterable[str] = Scope.values, field: str = "scopes") -> list[str]:
    scopes = list(dict.fromkeys(scopes or ()))
    allowed = set(allowed)
    unknown = [scope for scope in scopes if scope not in allowed]
    if unknown:
        raise InvalidInput(_("Scope not allowed here: %(scopes)s.") % {"scopes": ", ".join(unknown)}, field=field)
    return scopes


def _clean_webhook_url(url: str) -> str:
    url = (url or "").strip()
    if url:
        try:
            URLValidator(schemes=["http", "https"])(url)
        except ValidationError as error:
            raise InvalidInput(_("Enter a valid http(s) URL."), field="webhook_url") from error
    return url


def _clean_events(event_types: Iterable[str]) -> list[str]:
    event_types = list(dict.fromkeys(event_types or ()))
    unknown = [name for name in event_types if name not in events.EVENT_TYPES]
    if unknown:
        raise InvalidInput(_("Unknown event: %(events)s.") % {"events": ", ".join(unknown)}, field="webhook_events")
    return event_types


def _clean_rate_limit(rate_limit) -> int:
    if isinstance(rate_limit, bool) or not isinstance(rate_limit, int) or rate_limit <= 0:
        raise InvalidInput(_("The rate limit must be a positive number of requests per minute."), field="rate_limit")
    return rate_limit


def _clean_name(name: str, *, max_length: int) -> str:
    name = (name or "").strip()
    if not name:
        raise InvalidInput(_("A name is required."), field="name")
    if len(name) > max_length:
        raise InvalidInput(_("The name is too long."), field="name")
    return name


def _new_webhook_secret() -> str:
    return f"whsec_{secrets.token_hex(24)}"


# --------------------------------------------------------------------------------------------------------------
# Partners


@transaction.atomic
def partner_create(
    *,
    name: str,
    program: Program,
    scopes: Iterable[str],
    rate_limit: int = 600,
    webhook_url: str = "",
    webhook_events: Iterable[str] = (),
    active: bool = True,
) -> Partner:
    """Register a partner system of one program; its webhook signing secret is generated here."""
    name = _clean_name(name, max_length=120)
    if Partner.objects.filter(name=name).exists():
        raise InvalidInput(_("A partner with this name already exists."), field="name")
    webhook_partners_forget()
    return Partner.objects.create(
        name=name,
        program=program,
        active=active,
        scopes=_clean_scopes(scopes),
        rate_limit=_clean_rate_limit(rate_limit),
        webhook_url=_clean_webhook_url(webhook_url),
        webhook_secret=_new_webhook_secret(),
        webhook_events=_clean_events(webhook_events),
    )


@transaction.atomic
def partner_update(*, partner: Partner, **fields) -> Partner:
    """Change a partner's settings; its keys' cached credentials are dropped so the change applies at once."""
    unknown = set(fields) - PARTNER_FIELDS
    if unknown:
        raise InvalidInput(_("%(field)s cannot be changed here.") % {"field": sorted(unknown)[0]}, field="partner")
    cleaners = {
        "name": lambda value: _clean_name(value, max_length=120),
        "active": bool,
        "scopes": _clean_scopes,
        "rate_limit": _clean_rate_limit,
        "webhook_url": _clean_webhook_url,
        "webhook_events": _clean_events,
    }
    partner = Partner.objects.select_for_update().get(pk=partner.pk)
    for name, value in fields.items():
        setattr(partner, name, cleaners[name](value))
    if "name" in fields and Partner.objects.filter(name=partner.name).exclude(pk=partner.pk).exists():
        raise InvalidInput(_("A partner with this name already exists."), field="name")
    if partner.webhook_url and not partner.webhook_secret:
        partner.webhook_secret = _new_webhook_secret()
    partner.save(update_fields=[*fields, "webhook_secret", "updated_at"])
    _forget_keys(partner.api_keys.values_list("prefix", flat=True))
    webhook_partners_forget()
    return partner


@transaction.atomic
def partner_webhook_secret_rotate(*, partner: Partner) -> Partner:
    """Replace the webhook signing secret; deliveries signed after this use the new one."""
    partner = Partner.objects.select_for_update().get(pk=partner.pk)
    partner.webhook_secret = _new_webhook_secret()
    partner.save(update_fields=["webhook_secret", "updated_at"])
    return partner


# --------------------------------------------------------------------------------------------------------------
# API keys


@transaction.atomic
def api_key_create(
    *, partner: Partner, name: str, scopes: Iterable[str], created_by: AbstractBaseUser | None = None
) -> tuple[ApiKey, str]:
    """Issue a key with scopes from the partner's; returns the key row and the raw key, which is never stored."""
    name = _clean_name(name, max_length=80)
    scopes = _clean_scopes(scopes, allowed=partner.scopes)
    if not scopes:
        raise InvalidInput(_("Choose at least one scope."), field="scopes")
    while True:
        prefix = "".join(secrets.choice(_KEY_ALPHABET) for _ in range(KEY_PREFIX_LENGTH))
        if not ApiKey.objects.filter(prefix=prefix).exists():
            break
    raw_key = f"lk_{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(
        partner=partner, name=name, prefix=prefix, key_hash=key_digest(raw_key), scopes=scopes, created_by=created_by
    )
    return api_key, raw_key


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Refuse the key from now on (in every process as soon as the cached credentials are dropped)."""
    updated = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key.refresh_from_db(fields=["revoked_at"])
    if updated:
        _forget_keys([api_key.prefix])
    return api_key


def _load_credentials(prefix: str) -> PartnerCredentials | None:
    api_key = (
        ApiKey.objects.select_related("partner")
        .filter(prefix=prefix, revoked_at__isnull=True, partner__active=True)
        .only(
            "key_hash",
            "scopes",
            "last_used_at",
            "partner__id",
            "partner__program_id",
            "partner__scopes",
            "partner__rate_limit",
        )
        .first()
    )
    if api_key is None:
        return None
    now = timezone.now()
    if api_key.last_used_at is None or api_key.last_used_at < now - LAST_USED_PRECISION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    return PartnerCredentials(
        key_id=api_key.pk,
        key_hash=api_key.key_hash,
        partner_id=api_key.partner.pk,
        program_id=api_key.partner.program_id,
        scopes=frozenset(api_key.scopes) & frozenset(api_key.partner.scopes),
        rate_limit=api_key.partner.rate_limit,
    )


def api_key_authenticate(raw_key: str) -> PartnerCredentials | None:
    """The credentials of a valid, unrevoked key of an active partner; None for anything else."""
    match = _KEY_RE.fullmatch(raw_key)
    if match is None:
        return None
    cache_key = _cache_key(match[1])
    credentials = cache.get(cache_key)
    if credentials is None:
        credentials = _load_credentials(match[1])
        if credentials is None:
            return None
        cache.set(cache_key, credentials, settings.LOYALTY_API_KEY_CACHE_SECONDS)
    if not hmac.compare_digest(credentials.key_hash, key_digest(raw_key)):
        return None
    return credentials


# --------------------------------------------------------------------------------------------------------------
# Writes partners make that are more than one ledger service call


# Nested in the API's idempotent transaction these add no savepoint of their own (the services they call have
# theirs); any failure fails that whole transaction, which is what the API wants.
@transaction.atomic(savepoint=False)
def partner_member_enroll(*, program_id: int, external_id: str, **fields) -> PointAccount:
    """Create a member from a partner's sign-up and open their account in the partner's program."""
    program = Program.objects.get(pk=program_id)
    member = member_create(external_id=external_id, enrollment_channel=Member.Channel.PARTNER, **fields)
    return member_enroll(member=member, program=program)


def _points_for_refund(entry: LedgerEntry, amount: Decimal) -> int:
    if not entry.spend_amount:
        raise InvalidInput(_("This transaction has no purchase amount; reverse it by points."), field="amount")
    if amount <= 0 or amount > entry.spend_amount:
        raise InvalidInput(
            _("The refund amount must be more than zero and at most %(amount)s.") % {"amount": entry.spend_amount},
            field="amount",
        )
    points = (abs(entry.points) * amount / entry.spend_amount).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    reversed_so_far = abs(LedgerEntry.objects.filter(reverses=entry).aggregate(total=Sum("points"))["total"] or 0)
    # Rounding each partial refund up may overshoot on the last one; what is left to reverse caps it.
    points = min(int(points), abs(entry.points) - reversed_so_far)
    if points <= 0:
        raise InvalidInput(_("This refund is too small to take back any points."), field="amount")
    return points


@transaction.atomic(savepoint=False)
def partner_entry_reverse(
    *,
    partner_id: int,
    reference: str,
    points: int | None = None,
    amount: Decimal | None = None,
    refund_reference: str | None = None,
    reason: str = "",
) -> LedgerEntry:
    """Reverse one of the partner's own transactions, found by its reference: in full, by points or by a
    refunded amount (points in proportion to the purchase)."""
    if points is not None and amount is not None:
        raise InvalidInput(_("Give either points or amount, not both."), field="amount")
    entry = LedgerEntry.objects.filter(
        source_type=SourceType.PARTNER, source_id=str(partner_id), external_reference=reference
    ).first()
    if entry is None:
        raise NotFound(
            _("No transaction of yours has the reference %(reference)s.") % {"reference": reference},
            field="reference",
            code="transaction_not_found",
        )
    if amount is not None:
        points = _points_for_refund(entry, amount)
    return entry_reverse(
        entry=entry,
        source=Source.partner(partner_id),
        points=points,
        reason=reason,
        external_reference=refund_reference,
        metadata={"refund_amount": str(amount)} if amount is not None else None,
    )
