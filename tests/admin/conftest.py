import pytest
from django.contrib.auth.models import Group
from django.test import Client

from loyalty.services import Source, points_credit
from tests.factories import AccountFactory, TierFactory, UserFactory


@pytest.fixture
def client_for(db):
    """A logged-in staff client in one of the permission groups the migration creates."""

    def login(group_name: str) -> Client:
        user = UserFactory()
        user.groups.add(Group.objects.get(name=group_name))
        client = Client()
        client.force_login(user)
        return client

    return login


@pytest.fixture
def funded_account(program):
    """An account on the entry tier holding 500 points in two lots."""
    TierFactory(program=program, rank=0)
    account = AccountFactory(program=program)
    points_credit(account=account, points=300, source=Source.partner(1), external_reference="order-1")
    points_credit(account=account, points=200, source=Source.partner(1), external_reference="order-2")
    account.refresh_from_db()
    return account
