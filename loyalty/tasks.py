"""Celery tasks: thin wrappers over loyalty services. Each takes ids, loads, calls one service."""

import logging
import zoneinfo

from celery import shared_task
from django.utils import timezone

from loyalty import services
from loyalty.models import Program
from loyalty.selectors import reconcile

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def nightly_run(program_id: int) -> dict:
    """Activate, expire and re-evaluate tiers for one program, in that order."""
    program = Program.objects.get(pk=program_id)
    result = services.nightly_run(program=program)
    summary = {step: vars(outcome) for step, outcome in result.items()}
    logger.info("nightly run for %s: %s", program.code, summary)
    return summary


@shared_task
def nightly_tick() -> list[int]:
    """Queue the nightly run of every active program whose local nightly hour is now."""
    now = timezone.now()
    due = [
        program.pk
        for program in Program.objects.filter(active=True)
        if now.astimezone(zoneinfo.ZoneInfo(program.timezone)).hour == program.nightly_hour
    ]
    for program_id in due:
        nightly_run.delay(program_id)
    return due


@shared_task(acks_late=True)
def lots_activate_due(program_id: int | None = None) -> dict:
    program = Program.objects.get(pk=program_id) if program_id else None
    return vars(services.lots_activate_due(program=program))


@shared_task(acks_late=True)
def lots_expire_due(program_id: int | None = None) -> dict:
    program = Program.objects.get(pk=program_id) if program_id else None
    return vars(services.lots_expire_due(program=program))


@shared_task(acks_late=True)
def tiers_evaluate(program_id: int) -> dict:
    return vars(services.tiers_evaluate(program=Program.objects.get(pk=program_id)))


@shared_task
def ledger_reconcile(program_id: int | None = None) -> list[str]:
    """Return one line per account whose cached balances disagree with its entries and lots."""
    problems = [discrepancy.describe() for discrepancy in reconcile(program_id=program_id)]
    if problems:
        logger.error("reconcile found %d account(s) out of balance", len(problems))
    return problems


# The legacy import tasks live in their own module; importing it here lets autodiscovery register them.
import loyalty.import_tasks  # noqa: E402, F401
