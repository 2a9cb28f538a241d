"""Credits, redemptions and reversals (refunds) through the API."""

from loyalty.models import LedgerEntry, PointAccount
from loyalty.selectors import reconcile
from tests.api.test_purchases import PURCHASES, _purchase

CREDITS = "/api/v1/points/credits"
REDEMPTIONS = "/api/v1/points/redemptions"
REVERSALS = "/api/v1/points/reversals"


def _balance(account) -> int:
    return PointAccount.objects.get(pk=account.pk).available


def test_credit_then_redeem(shop, member_account):
    credit = shop.post(CREDITS, {"member_id": member_account.member_id, "points": 300, "reason": "Welcome"})
    redeem = shop.post(REDEMPTIONS, {"member_id": member_account.member_id, "points": 120, "reference": "RD-1"})

    assert credit.status_code == 201
    assert credit.json()["transaction"]["kind"] == "earn"
    assert redeem.status_code == 201
    assert redeem.json()["transaction"]["points"] == -120
    assert redeem.json()["balance"]["available"] == 180
    assert _balance(member_account) == 180


def test_redeeming_more_than_available_is_422_and_writes_nothing(shop, member_account):
    shop.post(CREDITS, {"member_id": member_account.member_id, "points": 50})

    response = shop.post(REDEMPTIONS, {"member_id": member_account.member_id, "points": 51})

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "insufficient_points"
    assert response.json()["error"]["fields"] == {"points": [response.json()["error"]["message"]]}
    assert _balance(member_account) == 50


def test_member_named_twice_or_not_at_all_is_400(shop, member_account):
    both = shop.post(
        CREDITS,
        {"member_id": member_account.member_id, "member_external_id": member_account.member.external_id, "points": 1},
    )
    neither = shop.post(CREDITS, {"points": 1})

    assert both.status_code == neither.status_code == 400
    assert "member_id" in both.json()["error"]["fields"]


def test_blocked_member_cannot_earn(shop, member_account):
    from members.services import member_block

    member_block(member=member_account.member, reason="fraud check")

    response = shop.post(PURCHASES, _purchase(member_account))

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "member_blocked"


def test_full_refund_by_order_id(shop, member_account):
    shop.post(PURCHASES, _purchase(member_account, order_id="ORD-9", amount="80.00"))

    response = shop.post(REVERSALS, {"reference": "ORD-9", "refund_reference": "RF-9"})

    assert response.status_code == 201
    body = response.json()
    assert body["transaction"]["kind"] == "reverse"
    assert body["transaction"]["points"] == -80
    assert body["transaction"]["reference"] == "RF-9"
    assert body["balance"]["available"] == 0
    again = shop.post(REVERSALS, {"reference": "ORD-9"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_reversed"


def test_partial_refunds_by_amount_take_back_proportional_points_and_never_more(shop, member_account):
    shop.post(PURCHASES, _purchase(member_account, order_id="ORD-10", amount="100.00"))

    first = shop.post(REVERSALS, {"reference": "ORD-10", "amount": "33.35"})
    second = shop.post(REVERSALS, {"reference": "ORD-10", "amount": "66.65"})

    assert first.json()["transaction"]["points"] == -33
    assert second.json()["transaction"]["points"] == -67
    assert _balance(member_account) == 0
    assert reconcile(account_id=member_account.pk) == []


def test_partial_reversal_by_points(shop, member_account):
    shop.post(PURCHASES, _purchase(member_account, order_id="ORD-11", amount="100.00"))

    response = shop.post(REVERSALS, {"reference": "ORD-11", "points": 40})
    too_many = shop.post(REVERSALS, {"reference": "ORD-11", "points": 61})

    assert response.json()["transaction"]["points"] == -40
    assert too_many.status_code == 422
    assert too_many.json()["error"]["code"] == "reversal_exceeds_entry"


def test_refund_larger_than_the_purchase_is_400(shop, member_account):
    shop.post(PURCHASES, _purchase(member_account, order_id="ORD-12", amount="10.00"))

    response = shop.post(REVERSALS, {"reference": "ORD-12", "amount": "10.01"})

    assert response.status_code == 400
    assert response.json()["error"]["fields"].keys() == {"amount"}


def test_reversing_a_redemption_gives_the_points_back(shop, member_account):
    shop.post(CREDITS, {"member_id": member_account.member_id, "points": 100})
    shop.post(REDEMPTIONS, {"member_id": member_account.member_id, "points": 70, "reference": "RD-2"})

    response = shop.post(REVERSALS, {"reference": "RD-2"})

    assert response.json()["transaction"]["points"] == 70
    assert _balance(member_account) == 100
    assert LedgerEntry.objects.filter(account=member_account).count() == 3


def test_transactions_list_filters_and_pages(shop, member_account):
    for index in range(3):
        shop.post(PURCHASES, _purchase(member_account, order_id=f"L-{index}", amount="10.00"))
    shop.post(REDEMPTIONS, {"member_id": member_account.member_id, "points": 5})

    first_page = shop.get("/api/v1/transactions", {"page_size": 2, "kind": "earn"}).json()
    second_page = shop.client.get(first_page["next"]).json()
    by_member = shop.get("/api/v1/transactions", {"member_id": member_account.member_id}).json()

    assert [item["reference"] for item in first_page["results"]] == ["L-2", "L-1"]
    assert [item["reference"] for item in second_page["results"]] == ["L-0"]
    assert second_page["next"] is None
    assert len(by_member["results"]) == 4


def test_transactions_filter_rejects_bad_dates(shop):
    response = shop.get("/api/v1/transactions", {"created_after": "yesterday"})

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["created_after"]
