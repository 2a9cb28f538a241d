"""Idempotency-Key: one write per key, the first response replayed, a reused key with another body refused."""

import datetime
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from loyalty.idempotency import idempotency_records_purge
from loyalty.models import IdempotencyRecord, LedgerEntry, PointAccount
from loyalty.selectors import reconcile
from tests.api.conftest import make_partner_client
from tests.api.test_purchases import PURCHASES, _purchase
from tests.factories import AccountFactory


def test_same_key_and_body_replays_the_first_response_without_a_second_write(shop, member_account):
    data = _purchase(member_account)

    first = shop.post(PURCHASES, data, key="retry-1")
    second = shop.post(PURCHASES, data, key="retry-1")

    assert first.status_code == second.status_code == 201
    assert second.content == first.content
    assert second["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert LedgerEntry.objects.filter(account=member_account).count() == 1


def test_json_key_order_and_whitespace_do_not_change_the_request(shop, member_account):
    data = _purchase(member_account)
    shop.post(PURCHASES, data, key="same")

    reordered = dict(reversed(list(data.items())))
    replay = shop.post(PURCHASES, reordered, key="same")

    assert replay["Idempotent-Replayed"] == "true"


def test_same_key_with_a_different_body_is_refused(shop, member_account):
    shop.post(PURCHASES, _purchase(member_account, order_id="A-1"), key="k-1")

    response = shop.post(PURCHASES, _purchase(member_account, order_id="A-2"), key="k-1")

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert LedgerEntry.objects.filter(account=member_account).count() == 1


def test_keys_belong_to_their_partner(shop, member_account):
    other = make_partner_client(member_account.program)
    shop.post(PURCHASES, _purchase(member_account, order_id="P-1"), key="shared-key")

    response = other.post(PURCHASES, _purchase(member_account, order_id="P-1"), key="shared-key")

    assert response.status_code == 201
    assert not response.has_header("Idempotent-Replayed")


def test_a_failed_write_stores_nothing_so_a_retry_runs_again(shop, member_account):
    redeem = {"member_id": member_account.member_id, "points": 100}
    refused = shop.post("/api/v1/points/redemptions", redeem, key="redeem-1")
    shop.post("/api/v1/points/credits", {"member_id": member_account.member_id, "points": 100})

    retried = shop.post("/api/v1/points/redemptions", redeem, key="redeem-1")

    assert refused.status_code == 422
    assert retried.status_code == 201
    assert IdempotencyRecord.objects.get(key="redeem-1").status_code == 201


def test_writes_without_a_key_are_refused(shop, member_account):
    response = shop.client.post(PURCHASES, _purchase(member_account), format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_missing"
    assert not LedgerEntry.objects.exists()


def test_a_key_with_control_characters_is_refused(shop, member_account):
    response = shop.post(PURCHASES, _purchase(member_account), key="bad key\t")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_invalid"


def test_a_record_past_the_replay_window_no_longer_replays_and_is_purged(shop, member_account):
    shop.post(PURCHASES, _purchase(member_account, order_id="OLD-1"), key="old")
    IdempotencyRecord.objects.filter(key="old").update(created_at=timezone.now() - datetime.timedelta(hours=25))

    again = shop.post(PURCHASES, _purchase(member_account, order_id="OLD-2"), key="old")
    assert again.status_code == 201
    assert not again.has_header("Idempotent-Replayed")

    IdempotencyRecord.objects.filter(key="old").update(created_at=timezone.now() - datetime.timedelta(hours=25))
    assert idempotency_records_purge() == 1
    assert not IdempotencyRecord.objects.filter(key="old").exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_fifty_concurrent_identical_earns_write_one_entry_and_get_fifty_identical_responses(earn_program):
    account = AccountFactory(program=earn_program)
    shop = make_partner_client(earn_program)
    data = _purchase(account, order_id="ORD-RACE")
    start = threading.Barrier(50)

    def send(_index):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {shop.key}")
        try:
            start.wait()
            response = client.post(PURCHASES, data, format="json", HTTP_IDEMPOTENCY_KEY="race-key")
            return response.status_code, response.content
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(send, range(50)))

    assert {status for status, _ in responses} == {201}
    assert len({content for _, content in responses}) == 1
    assert LedgerEntry.objects.filter(account=account).count() == 1
    assert PointAccount.objects.get(pk=account.pk).available == 250
    assert reconcile(account_id=account.pk) == []
