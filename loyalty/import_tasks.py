"""Celery tasks of the legacy import: thin wrappers that load the batch and call one service.

A commit task is acknowledged late and requeued if its worker dies (settings: acks late, reject on worker
lost); the redelivered task calls ``import_batch_commit`` again, which resumes after the last committed chunk.
"""

import logging

from celery import shared_task
from django.contrib.auth import get_user_model

from config.errors import DomainError
from loyalty.legacy_import import services
from loyalty.legacy_import.errors import ImportBusy
from loyalty.models import ImportBatch

logger = logging.getLogger(__name__)


def _load(batch_id: int, user_id: int | None):
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    return ImportBatch.objects.get(pk=batch_id), user


def _run(service, batch_id: int, user_id: int | None) -> dict:
    batch, user = _load(batch_id, user_id)
    try:
        batch = service(batch=batch, user=user)
    except ImportBusy:
        raise
    except DomainError as error:
        # The failure is recorded on the batch; retrying would fail the same way.
        logger.warning("import %s: %s", batch_id, error.message)
        services.import_batch_note_refusal(batch=batch, message=error.message)
        return {"batch": batch_id, "error": error.as_dict()}
    return {"batch": batch.pk, "status": batch.status}


@shared_task(acks_late=True, autoretry_for=(ImportBusy,), retry_backoff=5, max_retries=10)
def import_batch_dry_run(batch_id: int, user_id: int | None = None) -> dict:
    return _run(services.import_batch_dry_run, batch_id, user_id)


@shared_task(acks_late=True, autoretry_for=(ImportBusy,), retry_backoff=5, max_retries=10)
def import_batch_commit(batch_id: int, user_id: int | None = None) -> dict:
    return _run(services.import_batch_commit, batch_id, user_id)


@shared_task(acks_late=True, autoretry_for=(ImportBusy,), retry_backoff=5, max_retries=10)
def import_batch_undo(batch_id: int, user_id: int | None = None) -> dict:
    return _run(services.import_batch_undo, batch_id, user_id)
