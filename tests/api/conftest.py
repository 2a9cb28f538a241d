"""Partners, keys and clients for the API tests; everything is created through the services."""

import uuid
from dataclasses import dataclass
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from loyalty.models import Partner, Scope
from loyalty.partners import api_key_create, partner_create
from tests.factories import AccountFactory, ProgramFactory, TierFactory

ALL_SCOPES = tuple(Scope.values)


@dataclass
class PartnerClient:
    """A partner, one of its keys and an API client that sends that key."""

    partner: Partner
    key: str
    client: APIClient

    def post(self, path: str, data: dict, *, key: str | None = None, **headers):
        return self.client.post(path, data, format="json", HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4()), **headers)

    def patch(self, path: str, data: dict, *, key: str | None = None):
        return self.client.patch(path, data, format="json", HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4()))

    def get(self, path: str, params: dict | None = None):
        return self.client.get(path, params or {})


def make_partner_client(program, *, name=None, scopes=ALL_SCOPES, key_scopes=None, **partner_fields) -> PartnerClient:
    partner = partner_create(
        name=name or f"Partner {uuid.uuid4().hex[:8]}", program=program, scopes=scopes, **partner_fields
    )
    _api_key, raw_key = api_key_create(partner=partner, name="test", scopes=key_scopes or scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return PartnerClient(partner=partner, key=raw_key, client=client)


@pytest.fixture
def earn_program(db):
    """AED program earning 1 point per AED, with a Blue entry tier (x1) and a Gold tier (x1.5)."""
    program = ProgramFactory(currency="AED", earn_rate=Decimal("1"))
    TierFactory(program=program, rank=0, code="blue", name="Blue", earn_multiplier=Decimal("1"))
    TierFactory(program=program, rank=1, code="gold", name="Gold", earn_multiplier=Decimal("1.5"), threshold=5000)
    return program


@pytest.fixture
def member_account(earn_program):
    return AccountFactory(program=earn_program)


@pytest.fixture
def shop(earn_program) -> PartnerClient:
    return make_partner_client(earn_program, name="POS")
