"""Outgoing webhooks: domain events become signed HTTP POSTs to partners, through an outbox.

- ``on_domain_event`` runs inside the transaction of the service that raised the event and writes one
  ``WebhookDelivery`` per subscribed partner, so a delivery exists exactly when the change it reports
  committed. Sending is queued with ``transaction.on_commit``; a periodic sweep re-queues any delivery whose
  queueing was lost (broker down, worker killed mid-attempt).
- Routing: an event about a partner's own transaction goes to that partner only, as partners see only their own
  transactions; an event with no partner behind it (tier change, expiry warning, enrolment, staff adjustment)
  goes to every subscribed partner of the member's program.
- Every attempt claims the delivery with a lease first, so two workers never send one delivery at once, and is
  logged. Failures are retried with exponential backoff up to ``LOYALTY_WEBHOOK_MAX_ATTEMPTS``.
- The body is JSON ``{"id", "type", "created_at", "data"}``; the event id stays the same across attempts and
  partners, for de-duplication. ``X-Loyalty-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">``.
"""

import datetime
import hashlib
import hmac
import http.client
import json
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from loyalty.models import Partner, PointAccount, SourceType, WebhookAttempt, WebhookDelivery

SIGNATURE_HEADER = "X-Loyalty-Signature"
SIGNATURE_TOLERANCE_SECONDS = 300
USER_AGENT = "loyalty-webhooks/1"
# A claimed attempt holds the delivery this long beyond the HTTP timeout before the sweep may take it back.
LEASE_MARGIN = datetime.timedelta(seconds=30)
# Celery may run a retry a moment before the time the delivery records for it.
CLAIM_TOLERANCE = datetime.timedelta(seconds=2)
SWEEP_GRACE = datetime.timedelta(minutes=1)
_PARTNERS_CACHE_SECONDS = 60


# --------------------------------------------------------------------------------------------------------------
# Signing


def signature(secret: str, timestamp: int, body: str) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: str) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def signature_valid(secret: str, header: str, body: str, *, now: float | None = None) -> bool:
    """Check a signature header the way a receiver should: the HMAC matches and the timestamp is recent."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > SIGNATURE_TOLERANCE_SECONDS:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), parts.get("v1", ""))


def delivery_body(delivery: WebhookDelivery) -> str:
    return json.dumps(delivery.payload, cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":"))


# --------------------------------------------------------------------------------------------------------------
# From domain event to deliveries


_SUBSCRIPTIONS_CACHE_KEY = "loyalty:webhook-subscriptions"


@dataclass(frozen=True)
class _Subscriptions:
    """Every active partner with a webhook URL, by program: one small cached value read by every event."""

    by_program: dict[int, list[tuple[int, str, frozenset[str]]]]
    program_by_code: dict[str, int]


def webhook_partners_forget() -> None:
    """Drop the cached subscriptions: a partner was added or changed.

    Dropped now and again when the transaction commits, as a reader in between may have cached the old state.
    """
    cache.delete(_SUBSCRIPTIONS_CACHE_KEY)
    transaction.on_commit(lambda: cache.delete(_SUBSCRIPTIONS_CACHE_KEY))


def _subscriptions() -> _Subscriptions:
    subscriptions = cache.get(_SUBSCRIPTIONS_CACHE_KEY)
    if subscriptions is None:
        by_program: dict[int, list[tuple[int, str, frozenset[str]]]] = {}
        rows = (
            Partner.objects.filter(active=True)
            .exclude(webhook_url="")
            .values_list("program_id", "program__code", "pk", "webhook_url", "webhook_events")
        )
        program_by_code = {}
        for program_id, program_code, partner_id, url, event_types in rows:
            by_program.setdefault(program_id, []).append((partner_id, url, frozenset(event_types)))
            program_by_code[program_code] = program_id
        subscriptions = _Subscriptions(by_program, program_by_code)
        cache.set(_SUBSCRIPTIONS_CACHE_KEY, subscriptions, _PARTNERS_CACHE_SECONDS)
    return subscriptions


def _program_of_account(account_id: int) -> int | None:
    # An account never changes program, so the answer can be kept for long.
    key = f"loyalty:account-program:{account_id}"
    program_id = cache.get(key)
    if program_id is None:
        program_id = PointAccount.objects.filter(pk=account_id).values_list("program_id", flat=True).first()
        cache.set(key, program_id, 24 * 3600)
    return program_id


def _recipients(event_type: str, account_id: int, data: dict[str, Any]) -> list[tuple[int, str]]:
    subscriptions = _subscriptions()
    if not subscriptions.by_program:
        return []
    # Entry events name their program; a program nobody subscribes to needs no further look-up.
    if "program" in data:
        program_id = subscriptions.program_by_code.get(data["program"])
    else:
        program_id = _program_of_account(account_id)
    own_partner = str(data.get("source_id")) if data.get("source_type") == SourceType.PARTNER else None
    return [
        (partner_id, url)
        for partner_id, url, event_types in subscriptions.by_program.get(program_id, ())
        if (not event_types or event_type in event_types) and (own_partner is None or str(partner_id) == own_partner)
    ]


def on_domain_event(event_type: str, account_id: int, data: dict[str, Any]) -> None:
    """Write the deliveries of one event in the caller's transaction and queue them for after commit."""
    recipients = _recipients(event_type, account_id, data)
    if not recipients:
        return
    now = timezone.now()
    event_id = uuid.uuid4()
    payload = {
        "id": str(event_id),
        "type": event_type,
        "created_at": now.isoformat(),
        "data": {"account_id": account_id, **data},
    }
    deliveries = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                partner_id=partner_id,
                event_id=event_id,
                event_type=event_type,
                account_id=account_id,
                payload=payload,
                url=url,
                next_attempt_at=now,
                created_at=now,
            )
            for partner_id, url in recipients
        ]
    )
    for delivery in deliveries:
        _queue_after_commit(delivery.pk)


def _queue_after_commit(delivery_id: int) -> None:
    from loyalty.partner_tasks import webhook_deliver

    def queue_delivery() -> None:
        webhook_deliver.delay(delivery_id)

    # robust: the change has committed; a broker hiccup must not turn it into an error, the sweep re-queues.
    transaction.on_commit(queue_delivery, robust=True)


# --------------------------------------------------------------------------------------------------------------
# Sending


@dataclass(frozen=True)
class AttemptOutcome:
    sent: bool
    succeeded: bool = False
    retry_in: float | None = None


def retry_delay(attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt: exponential, capped."""
    base = settings.LOYALTY_WEBHOOK_RETRY_BASE_SECONDS
    return min(base * 2 ** (attempts - 1), settings.LOYALTY_WEBHOOK_RETRY_MAX_SECONDS)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def _post(url: str, body: str, headers: dict[str, str]) -> tuple[int | None, str]:
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")  # noqa: S310
    try:
        with _opener.open(request, timeout=settings.LOYALTY_WEBHOOK_TIMEOUT_SECONDS) as response:
            response.read(4096)
            return response.status, ""
    except urllib.error.HTTPError as error:
        return error.code, f"HTTP {error.code}"
    except (OSError, ValueError, http.client.HTTPException) as error:
        return None, str(error)[:255] or error.__class__.__name__


def _claim(delivery_id: int, now: datetime.datetime) -> WebhookDelivery | None:
    lease = now + datetime.timedelta(seconds=settings.LOYALTY_WEBHOOK_TIMEOUT_SECONDS) + LEASE_MARGIN
    with transaction.atomic():
        claimed = WebhookDelivery.objects.filter(
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now + CLAIM_TOLERANCE),
            pk=delivery_id,
            status=WebhookDelivery.Status.PENDING,
        ).update(attempts=F("attempts") + 1, next_attempt_at=lease)
        if not claimed:
            return None
        return WebhookDelivery.objects.select_related("partner").get(pk=delivery_id)


def webhook_attempt(*, delivery_id: int) -> AttemptOutcome:
    """Make one attempt at a pending delivery, log it, and say whether and when to try again."""
    delivery = _claim(delivery_id, timezone.now())
    if delivery is None:
        return AttemptOutcome(sent=False)
    body = delivery_body(delivery)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Loyalty-Event-Id": str(delivery.event_id),
        "X-Loyalty-Event-Type": delivery.event_type,
        "X-Loyalty-Delivery-Attempt": str(delivery.attempts),
        SIGNATURE_HEADER: signature_header(delivery.partner.webhook_secret, timestamp, body),
    }
    started = time.monotonic()
    status_code, error = _post(delivery.url, body, headers)
    duration_ms = int((time.monotonic() - started) * 1000)
    succeeded = status_code is not None and 200 <= status_code < 300
    now = timezone.now()
    retry_in = None
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=delivery.attempts,
            attempted_at=now,
            status_code=status_code,
            error=error,
            duration_ms=duration_ms,
        )
        delivery.last_status_code = status_code
        delivery.last_error = error
        if succeeded:
            delivery.status = WebhookDelivery.Status.SUCCEEDED
            delivery.delivered_at = now
            delivery.next_attempt_at = None
        elif delivery.attempts >= settings.LOYALTY_WEBHOOK_MAX_ATTEMPTS:
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.next_attempt_at = None
        else:
            retry_in = retry_delay(delivery.attempts)
            delivery.next_attempt_at = now + datetime.timedelta(seconds=retry_in)
        delivery.save(update_fields=["status", "last_status_code", "last_error", "delivered_at", "next_attempt_at"])
    return AttemptOutcome(sent=True, succeeded=succeeded, retry_in=retry_in)


@transaction.atomic
def webhook_delivery_resend(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again now, whatever became of it (receivers de-duplicate by event id)."""
    delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
    delivery.status = WebhookDelivery.Status.PENDING
    delivery.next_attempt_at = timezone.now()
    delivery.save(update_fields=["status", "next_attempt_at"])
    _queue_after_commit(delivery.pk)
    return delivery


def webhooks_requeue_due(*, now: datetime.datetime | None = None, limit: int = 1000) -> int:
    """Queue pending deliveries that are overdue (their queueing or their worker was lost); return how many."""
    overdue = (now or timezone.now()) - SWEEP_GRACE
    from loyalty.partner_tasks import webhook_deliver

    ids = list(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=overdue)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for delivery_id in ids:
        webhook_deliver.delay(delivery_id)
    return len(ids)
