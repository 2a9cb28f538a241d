import pytest
from django.conf import settings
from django.utils import translation

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
