"""Earning points from a purchase through the API."""

import uuid

from loyalty.models import LedgerEntry, PointAccount, Tier
from loyalty.services import tier_assign
from tests.factories import UserFactory

PURCHASES = "/api/v1/purchases"


def _purchase(account, **overrides):
    return {
        "member_id": account.member_id,
        "order_id": f"ORD-{uuid.uuid4().hex[:10]}",
        "amount": "250.00",
        "currency": "AED",
        **overrides,
    }


def test_purchase_earns_amount_times_earn_rate_and_returns_the_balance(shop, member_account):
    response = shop.post(PURCHASES, _purchase(member_account, order_id="ORD-1"))

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["points"] == 250
    assert body["transaction"]["reference"] == "ORD-1"
    assert body["transaction"]["amount"] == "250.00"
    assert body["balance"]["available"] == 250
    assert body["balance"]["tier"]["code"] == "blue"
    entry = LedgerEntry.objects.get(pk=body["transaction"]["id"])
    assert (entry.source_type, entry.source_id) == ("partner", str(shop.partner.pk))


def test_tier_multiplier_applies(shop, member_account):
    gold = Tier.objects.get(program=member_account.program, code="gold")
    tier_assign(account=member_account, tier=gold, user=UserFactory(), note="status match")

    response = shop.post(PURCHASES, _purchase(member_account, amount="101.00"))

    assert response.json()["points"] == 151  # 101 x 1.5 = 151.5, rounded down by default


def test_member_can_be_named_by_external_id(shop, member_account):
    data = _purchase(member_account)
    del data["member_id"]
    data["member_external_id"] = member_account.member.external_id

    response = shop.post(PURCHASES, data)

    assert response.status_code == 201
    assert response.json()["transaction"]["member_id"] == member_account.member_id


def test_same_order_id_under_a_new_idempotency_key_is_a_conflict(shop, member_account):
    first = shop.post(PURCHASES, _purchase(member_account, order_id="ORD-7"))
    second = shop.post(PURCHASES, _purchase(member_account, order_id="ORD-7"))

    assert first.status_code == 201
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "duplicate_reference"
    assert PointAccount.objects.get(pk=member_account.pk).available == 250


def test_other_currency_is_refused(shop, member_account):
    response = shop.post(PURCHASES, _purchase(member_account, currency="USD"))

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "currency_mismatch"
    assert response.json()["error"]["fields"] == {"currency": ["This program earns in AED only."]}


def test_amount_too_small_to_earn_records_nothing(shop, member_account):
    response = shop.post(PURCHASES, _purchase(member_account, amount="0.40"))

    assert response.status_code == 201
    assert response.json()["points"] == 0
    assert response.json()["transaction"] is None
    assert not LedgerEntry.objects.filter(account=member_account).exists()


def test_bad_input_names_the_fields(shop, member_account):
    response = shop.post(PURCHASES, {"member_id": member_account.member_id, "amount": "abc", "currency": "AED"})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {"order_id", "amount"}


def test_items_are_kept_on_the_transaction(shop, member_account):
    items = [{"sku": "SKU-1", "name": "Coffee", "quantity": 2, "amount": "20.00"}]

    response = shop.post(PURCHASES, _purchase(member_account, amount="20.00", items=items))

    assert response.json()["transaction"]["metadata"] == {
        "items": [{"sku": "SKU-1", "name": "Coffee", "quantity": 2, "amount": "20.00"}]
    }
