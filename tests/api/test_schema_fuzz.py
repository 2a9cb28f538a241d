"""Schemathesis over the whole partner API: no server errors and no response outside the schema."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from config.wsgi import application
from loyalty.services import Source, points_credit
from tests.api.conftest import make_partner_client
from tests.factories import AccountFactory

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
# Every check but "positive data acceptance": a schema-valid request may still break a business rule (an
# unknown phone number, a refund larger than the purchase) and be refused with a documented 400.
CHECKS_EXCLUDED = [schemathesis.checks.positive_data_acceptance]


@pytest.fixture
def wsgi_in_test_transaction():
    """Requests go straight to the WSGI app; like Django's test client, keep the test's connection open."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def partner(earn_program, wsgi_in_test_transaction):
    """A partner key and an enrolled member with some points, so that requests can also succeed."""
    client = make_partner_client(earn_program, rate_limit=1_000_000)
    account = AccountFactory(program=earn_program)
    points_credit(
        account=account, points=1_000, source=Source.partner(client.partner.pk), external_reference="ORD-1001"
    )
    return {"Authorization": f"Bearer {client.key}"}, account.member_id


def _aim_at_the_member(case, member_id: int) -> None:
    """Random ids are nearly always unknown (404); in a schema-valid case the id is swapped for the real member's."""
    if not case.meta.generation.mode.is_positive:
        return
    if isinstance(case.path_parameters, dict) and isinstance(case.path_parameters.get("member_id"), int):
        case.path_parameters["member_id"] = member_id
    if isinstance(case.body, dict) and isinstance(case.body.get("member_id"), int) and case.body["member_id"] > 0:
        case.body["member_id"] = member_id


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case, partner):
    headers, member_id = partner
    _aim_at_the_member(case, member_id)
    case.call_and_validate(headers=headers, excluded_checks=CHECKS_EXCLUDED)
