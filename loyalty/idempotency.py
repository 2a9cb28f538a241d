"""Idempotent partner writes: the same (partner, Idempotency-Key) performs its write at most once.

How it holds, also under concurrency:

1. The record ``(partner, key)`` is inserted *first*, with ``INSERT … ON CONFLICT DO NOTHING``, in the same
   transaction as the write it guards, and the response is stored in that transaction before it commits.
2. A concurrent request with the same key blocks on the unique index until the first transaction ends. If it
   committed, the conflict leaves nothing inserted and the stored response is replayed; if it rolled back (the
   write failed), the waiting request claims the key and performs the write itself.
3. So a record is only ever seen committed together with its response, and a failed write leaves no record:
   retrying after an error runs the request again. A key reused with a different request is refused.
4. Records older than ``REPLAY_WINDOW`` no longer replay: a claim takes such a record over, and a periodic task
   deletes them.
"""

import datetime
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from config.errors import DomainError
from loyalty.models import IdempotencyRecord

REPLAY_WINDOW = datetime.timedelta(hours=24)
PURGE_BATCH_SIZE = 5_000

_CLAIM_SQL = """
INSERT INTO loyalty_idempotencyrecord
    (partner_id, key, fingerprint, method, path, status_code, response_body, created_at)
VALUES (%(partner)s, %(key)s, %(fingerprint)s, %(method)s, %(path)s, NULL, '', %(now)s)
ON CONFLICT (partner_id, key) DO UPDATE
    SET fingerprint = EXCLUDED.fingerprint, method = EXCLUDED.method, path = EXCLUDED.path,
        status_code = NULL, response_body = '', created_at = EXCLUDED.created_at
    WHERE loyalty_idempotencyrecord.created_at < %(expired_before)s
RETURNING id
"""
_COMPLETE_SQL = "UPDATE loyalty_idempotencyrecord SET status_code = %s, response_body = %s WHERE id = %s"


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"


class RequestInProgress(DomainError):
    code = "request_in_progress"


@dataclass(frozen=True)
class IdempotentResponse:
    status_code: int
    body: str
    replayed: bool


def request_fingerprint(method: str, path: str, data: Any) -> str:
    """SHA-256 of the method, path and body; key order and whitespace of the JSON body do not matter."""
    canonical = json.dumps([method.upper(), path, data], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _claim(*, partner_id: int, key: str, fingerprint: str, method: str, path: str) -> int | None:
    now = timezone.now()
    params = {
        "partner": partner_id,
        "key": key,
        "fingerprint": fingerprint,
        "method": method,
        "path": path[:255],
        "now": now,
        "expired_before": now - REPLAY_WINDOW,
    }
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, params)
        row = cursor.fetchone()
    return row[0] if row else None


def idempotent_write(
    *,
    partner_id: int,
    key: str,
    method: str,
    path: str,
    fingerprint: str,
    perform: Callable[[], tuple[int, str]],
) -> IdempotentResponse:
    """Run ``perform`` (which returns status and JSON body) once per key, or replay what its first run returned.

    ``perform`` runs inside this function's transaction; an exception from it rolls back its write and the
    claim of the key together.
    """
    # A second pass is needed only if the record that blocked the claim was purged before it could be read.
    for _attempt in range(2):
        with transaction.atomic():
            record_id = _claim(partner_id=partner_id, key=key, fingerprint=fingerprint, method=method, path=path)
            if record_id is not None:
                status_code, body = perform()
                with connection.cursor() as cursor:
                    cursor.execute(_COMPLETE_SQL, [status_code, body, record_id])
                return IdempotentResponse(status_code, body, replayed=False)
        record = (
            IdempotencyRecord.objects.filter(partner_id=partner_id, key=key)
            .only("fingerprint", "status_code", "response_body")
            .first()
        )
        if record is None:
            continue
        if record.fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                _("This Idempotency-Key was already used for a different request."), field="Idempotency-Key"
            )
        if record.status_code is None:
            break
        return IdempotentResponse(record.status_code, record.response_body, replayed=True)
    raise RequestInProgress(
        _("A request with this Idempotency-Key is still being processed; retry shortly."), field="Idempotency-Key"
    )


def idempotency_records_purge(*, now: datetime.datetime | None = None) -> int:
    """Delete records past the replay window, in batches; return how many went."""
    expired_before = (now or timezone.now()) - REPLAY_WINDOW
    deleted = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM loyalty_idempotencyrecord WHERE id IN ("
                "SELECT id FROM loyalty_idempotencyrecord WHERE created_at < %s LIMIT %s)",
                [expired_before, PURGE_BATCH_SIZE],
            )
            deleted += cursor.rowcount
            if cursor.rowcount < PURGE_BATCH_SIZE:
                return deleted
