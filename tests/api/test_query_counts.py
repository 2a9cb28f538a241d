"""Every write endpoint's SQL statements, pinned, in steady state (the key's checked credentials cached).

Counted as the database sees them, BEGIN and COMMIT included. The idempotency record is claimed first and
completed last in the request's transaction; a points credit is one statement in it (no savepoint), the other
services open their own atomic block, which costs a SAVEPOINT and a RELEASE.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.api.conftest import make_partner_client
from tests.api.test_purchases import PURCHASES, _purchase
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def setup(earn_program):
    shop = make_partner_client(earn_program)
    account = AccountFactory(program=earn_program)
    # Warms the key and webhook-subscriber caches, as any earlier request would have.
    assert shop.post(PURCHASES, _purchase(account, order_id="ORD-WARM")).status_code == 201
    return shop, account


def _statements(send) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = send()
    assert response.status_code in (200, 201), response.content
    return [query["sql"].split(None, 1)[0].upper() for query in captured.captured_queries]


def test_purchase_earn_statements(setup):
    shop, account = setup

    statements = _statements(lambda: shop.post(PURCHASES, _purchase(account)))

    # claim key, find the account, credit it (lock, entry, lot and balance in one statement), store response
    assert statements == ["BEGIN", "INSERT", "SELECT", "WITH", "UPDATE", "COMMIT"]


def test_credit_statements(setup):
    shop, account = setup

    statements = _statements(lambda: shop.post("/api/v1/points/credits", {"member_id": account.member_id, "points": 5}))

    assert statements == ["BEGIN", "INSERT", "SELECT", "WITH", "UPDATE", "COMMIT"]


def test_redeem_statements(setup):
    shop, account = setup

    statements = _statements(
        lambda: shop.post("/api/v1/points/redemptions", {"member_id": account.member_id, "points": 5})
    )

    # claim, account, savepoint, lock, entry, reading spendable lots, recording and applying the allocations,
    # balance, release, store response
    assert len(statements) == 13


def test_reverse_statements(setup):
    shop, _account = setup

    statements = _statements(lambda: shop.post("/api/v1/points/reversals", {"reference": "ORD-WARM", "points": 5}))

    # finding the entry by reference, and reading the tier for the balance in the response, come on top of
    # what entry_reverse itself does
    assert len(statements) == 16


def test_enroll_statements(setup):
    shop, _account = setup

    statements = _statements(lambda: shop.post("/api/v1/members", {"external_id": "NEW-1", "email": "n@example.com"}))

    # member_create and member_enroll each guard their insert with a savepoint inside their own block
    assert len(statements) == 17
    assert statements.count("INSERT") == 4  # key, member, account, tier change


def test_update_statements(setup):
    shop, account = setup

    statements = _statements(lambda: shop.patch(f"/api/v1/members/{account.member_id}", {"city": "Dubai"}))

    assert statements == ["BEGIN", "INSERT", "SELECT", "SAVEPOINT", "UPDATE", "RELEASE", "UPDATE", "COMMIT"]
