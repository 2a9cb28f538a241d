import uuid

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.utils import translation

from config.celery import app as celery_app
from loyalty.services import Source
from tests.factories import AccountFactory, ProgramFactory, UserFactory


@pytest.fixture(autouse=True)
def default_language():
    """Every test starts in the default language: a request in Arabic or Malay leaves it active in the thread."""
    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture
def program(db):
    return ProgramFactory()


@pytest.fixture
def account(program):
    return AccountFactory(program=program)


@pytest.fixture
def staff_user(db):
    return UserFactory()


@pytest.fixture
def pos():
    """A partner point-of-sale system as the source of entries."""
    return Source.partner(1)


def _forget_celery_routing() -> None:
    # Celery caches the queues and router built from the configuration on first use.
    for cached in ("queues", "default_queue", "router"):
        celery_app.amqp.__dict__.pop(cached, None)
    celery_app.amqp._rtable = None


@pytest.fixture
def celery_worker_queue():
    """A real Celery worker on the configured broker, consuming a queue of its own; yields the queue's name.

    Tasks queued by the code under test go to that queue, so a worker of another test session (or of
    ``make run``) on the same broker never takes them.
    """
    queue = f"test-{uuid.uuid4().hex[:8]}"
    previous = {key: celery_app.conf[key] for key in ("task_always_eager", "task_default_queue")}
    celery_app.conf.update(task_always_eager=False, task_default_queue=queue)
    _forget_celery_routing()
    try:
        with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30, queues=[queue]):
            yield queue
    finally:
        celery_app.conf.update(previous)
        _forget_celery_routing()
