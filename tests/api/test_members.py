"""Enrolling, looking up and updating members; balance and lots."""

import datetime

from django.utils import timezone

from loyalty.models import PointAccount
from loyalty.services import points_credit
from members.models import Member

MEMBERS = "/api/v1/members"


def _enroll(shop, **fields):
    return shop.post(MEMBERS, {"external_id": "CARD-1", **fields})


def test_enroll_creates_the_member_normalised_and_enrolls_them_on_the_entry_tier(shop, earn_program):
    response = _enroll(shop, email=" Aisha@Example.COM ", phone="+971 50 123 4567", first_name="Aisha")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "aisha@example.com"
    assert body["phone"] == "+971501234567"
    assert body["tier"]["code"] == "blue"
    member = Member.objects.get(pk=body["id"])
    assert member.enrollment_channel == Member.Channel.PARTNER
    assert PointAccount.objects.filter(member=member, program=earn_program).exists()


def test_enrolling_an_existing_external_id_is_409(shop, earn_program):
    _enroll(shop)

    response = _enroll(shop)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "member_exists"


def test_an_invalid_phone_is_400_naming_the_field_and_creates_nothing(shop, earn_program):
    response = _enroll(shop, phone="12345")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["phone"]
    assert not Member.objects.filter(external_id="CARD-1").exists()


def test_look_up_by_external_id_email_and_phone(shop, earn_program):
    member_id = _enroll(shop, email="a@example.com", phone="+971501234567").json()["id"]
    _enroll(shop, external_id="CARD-2", email="b@example.com")

    for params in ({"external_id": "CARD-1"}, {"email": "A@example.com"}, {"phone": "+971501234567"}):
        results = shop.get(MEMBERS, params).json()["results"]
        assert [member["id"] for member in results] == [member_id], params
    assert shop.get(f"{MEMBERS}/{member_id}").json()["external_id"] == "CARD-1"


def test_look_up_by_a_malformed_phone_is_400(shop, earn_program):
    response = shop.get(MEMBERS, {"phone": "call me"})

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["phone"]


def test_update_changes_only_what_is_sent(shop, earn_program):
    member_id = _enroll(shop, email="a@example.com", first_name="Aisha").json()["id"]

    response = shop.patch(f"{MEMBERS}/{member_id}", {"city": "Sharjah", "email": "NEW@example.com"})

    assert response.status_code == 200
    member = Member.objects.get(pk=member_id)
    assert (member.city, member.email, member.first_name) == ("Sharjah", "new@example.com", "Aisha")


def test_unknown_member_and_unknown_path_are_404_in_the_error_shape(shop, earn_program):
    for path in (f"{MEMBERS}/999999", "/api/v1/nowhere", f"{MEMBERS}/-1"):
        response = shop.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] in {"member_not_found", "not_found"}


def test_balance_shows_tier_and_next_expiry(shop, member_account, pos):
    soon = timezone.now() + datetime.timedelta(days=10)
    later = timezone.now() + datetime.timedelta(days=40)
    points_credit(account=member_account, points=30, source=pos, expires_at=soon)
    points_credit(account=member_account, points=20, source=pos, expires_at=soon)
    points_credit(account=member_account, points=50, source=pos, expires_at=later)

    body = shop.get(f"{MEMBERS}/{member_account.member_id}/balance").json()

    assert body["available"] == 100
    assert body["tier"] == {"code": "blue", "name": "Blue", "earn_multiplier": "1.00"}
    assert body["next_expiry"]["points"] == 50
    assert datetime.datetime.fromisoformat(body["next_expiry"]["expires_at"]) == soon


def test_lots_list_open_lots_soonest_expiry_first(shop, member_account, pos):
    later = timezone.now() + datetime.timedelta(days=40)
    soon = timezone.now() + datetime.timedelta(days=10)
    points_credit(account=member_account, points=50, source=pos, expires_at=later)
    points_credit(account=member_account, points=30, source=pos, expires_at=soon)
    points_credit(account=member_account, points=5, source=pos, hold_until_event=True)

    body = shop.get(f"{MEMBERS}/{member_account.member_id}/lots").json()

    assert [(lot["remaining"], lot["state"]) for lot in body["results"]] == [
        (30, "active"),
        (50, "active"),
        (5, "pending"),
    ]
