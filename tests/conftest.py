import pytest

from loyalty.services import Source
from tests.factories import AccountFactory, ProgramFactory, UserFactory


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
