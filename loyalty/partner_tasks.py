"""Celery tasks of the partner API: thin wrappers over ``loyalty.webhooks`` and ``loyalty.idempotency``."""

from celery import shared_task

from loyalty import idempotency, webhooks


@shared_task(bind=True, acks_late=True, max_retries=None)
def webhook_deliver(self, delivery_id: int) -> str:
    """One attempt at a webhook delivery; a failure schedules the next with exponential backoff."""
    outcome = webhooks.webhook_attempt(delivery_id=delivery_id)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    if not outcome.sent:
        return "skipped"
    return "delivered" if outcome.succeeded else "failed"


@shared_task
def webhooks_requeue_due() -> int:
    return webhooks.webhooks_requeue_due()


@shared_task
def idempotency_records_purge() -> int:
    return idempotency.idempotency_records_purge()
