"""Keys, scopes and partner boundaries: who may call what, and what each partner sees."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from config.errors import InvalidInput
from loyalty.models import ApiKey, Scope
from loyalty.partners import api_key_revoke, partner_update
from tests.api.conftest import make_partner_client
from tests.api.test_purchases import PURCHASES, _purchase
from tests.factories import AccountFactory, ProgramFactory

BALANCE = "/api/v1/members/{}/balance"


@pytest.fixture
def rival(earn_program):
    """A second partner of the same program."""
    return make_partner_client(earn_program, name="Rival")


def test_no_key_is_401_with_a_bearer_challenge(member_account):
    response = APIClient().get(BALANCE.format(member_account.member_id))

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json()["error"]["code"] == "not_authenticated"


def test_key_in_x_api_key_header_works(shop, member_account):
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=shop.key)

    assert client.get(BALANCE.format(member_account.member_id)).status_code == 200


@pytest.mark.parametrize(
    "tamper",
    [
        lambda key: key[:-1] + ("A" if key[-1] != "A" else "B"),  # right prefix, wrong secret
        lambda key: "lk_zzzzzzzz_" + key.split("_", 2)[2],  # unknown prefix
        lambda key: "not-a-key",
    ],
)
def test_a_wrong_key_is_401(shop, member_account, tamper):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tamper(shop.key)}")

    response = client.get(BALANCE.format(member_account.member_id))

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_a_revoked_key_is_401_at_once_even_after_being_cached(shop, member_account, django_capture_on_commit_callbacks):
    assert shop.get(BALANCE.format(member_account.member_id)).status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(api_key=ApiKey.objects.get(partner=shop.partner))

    response = shop.get(BALANCE.format(member_account.member_id))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_keys_of_an_inactive_partner_are_401(shop, member_account, django_capture_on_commit_callbacks):
    assert shop.get(BALANCE.format(member_account.member_id)).status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        partner_update(partner=shop.partner, active=False)

    assert shop.get(BALANCE.format(member_account.member_id)).status_code == 401


def test_the_key_is_stored_only_as_its_digest(shop):
    api_key = ApiKey.objects.get(partner=shop.partner)

    assert shop.key.startswith(f"lk_{api_key.prefix}_")
    assert shop.key not in (api_key.key_hash, api_key.prefix, api_key.name)
    assert len(api_key.key_hash) == 64


def test_last_used_is_recorded_without_a_write_per_request(shop, member_account):
    cache.clear()
    shop.get(BALANCE.format(member_account.member_id))
    first_use = ApiKey.objects.get(partner=shop.partner).last_used_at
    cache.clear()
    shop.get(BALANCE.format(member_account.member_id))

    assert first_use is not None
    assert ApiKey.objects.get(partner=shop.partner).last_used_at == first_use


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("post", PURCHASES, Scope.POINTS_EARN),
        ("post", "/api/v1/points/credits", Scope.POINTS_EARN),
        ("post", "/api/v1/points/redemptions", Scope.POINTS_REDEEM),
        ("post", "/api/v1/points/reversals", Scope.POINTS_REVERSE),
        ("post", "/api/v1/members", Scope.MEMBERS_WRITE),
        ("patch", "/api/v1/members/{member}", Scope.MEMBERS_WRITE),
        ("get", "/api/v1/members", Scope.MEMBERS_READ),
        ("get", "/api/v1/members/{member}", Scope.MEMBERS_READ),
        ("get", BALANCE.format("{member}"), Scope.POINTS_READ),
        ("get", "/api/v1/members/{member}/lots", Scope.POINTS_READ),
        ("get", "/api/v1/transactions", Scope.POINTS_READ),
    ],
)
def test_a_key_without_the_scope_gets_403(earn_program, member_account, method, path, scope):
    other_scopes = [value for value in Scope.values if value != scope]
    limited = make_partner_client(earn_program, scopes=other_scopes)
    path = path.format(member=member_account.member_id)

    response = limited.get(path) if method == "get" else getattr(limited, method)(path, {})

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "scope_missing"


def test_a_key_has_at_most_its_partners_scopes(earn_program, member_account, django_capture_on_commit_callbacks):
    client = make_partner_client(earn_program, scopes=[Scope.POINTS_READ, Scope.POINTS_EARN])
    assert client.post(PURCHASES, _purchase(member_account)).status_code == 201

    with django_capture_on_commit_callbacks(execute=True):
        partner_update(partner=client.partner, scopes=[Scope.POINTS_READ])

    assert client.post(PURCHASES, _purchase(member_account)).status_code == 403


def test_a_partner_cannot_see_another_partners_transaction(shop, rival, member_account):
    entry_id = rival.post(PURCHASES, _purchase(member_account, order_id="R-1")).json()["transaction"]["id"]

    assert rival.get(f"/api/v1/transactions/{entry_id}").status_code == 200
    response = shop.get(f"/api/v1/transactions/{entry_id}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert shop.get("/api/v1/transactions").json()["results"] == []
    assert shop.get("/api/v1/transactions", {"reference": "R-1"}).json()["results"] == []


def test_a_partner_cannot_reverse_another_partners_transaction(shop, rival, member_account):
    rival.post(PURCHASES, _purchase(member_account, order_id="R-2"))

    response = shop.post("/api/v1/points/reversals", {"reference": "R-2"})

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "transaction_not_found"
    member_account.refresh_from_db()
    assert member_account.available == 250


def test_members_of_another_program_are_not_found(shop):
    stranger = AccountFactory(program=ProgramFactory(currency="AED"))

    for response in (
        shop.get(f"/api/v1/members/{stranger.member_id}"),
        shop.get(BALANCE.format(stranger.member_id)),
        shop.post(PURCHASES, _purchase(stranger)),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "member_not_found"
    assert shop.get("/api/v1/members", {"external_id": stranger.member.external_id}).json()["results"] == []


def test_partner_names_stay_unique(shop, rival):
    with pytest.raises(InvalidInput) as refused:
        partner_update(partner=rival.partner, name="POS")

    assert refused.value.field == "name"
