"""Signed webhooks, delivered after commit to a real local HTTP receiver, retried with backoff by a real worker."""

import datetime
import http.server
import json
import re
import threading
import time
from pathlib import Path

import pytest
from django.test import override_settings
from django.utils import timezone

from loyalty import events
from loyalty.models import WebhookAttempt, WebhookDelivery
from loyalty.services import Source, points_credit
from loyalty.webhooks import webhooks_requeue_due
from tests.api.conftest import make_partner_client
from tests.api.test_purchases import PURCHASES, _purchase
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db(transaction=True)


class Receiver:
    """An HTTP server in a thread that records what it receives and answers with the statuses it is given."""

    def __init__(self, statuses=()):
        self.requests: list[dict] = []
        self.statuses = list(statuses)
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 30) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.requests


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.close()


def _documented_verify_signature():
    """The receiver code docs/api.md gives partners, run as written."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    block = re.search(r"<!-- verify-signature:start -->\n```python\n(.*?)```", text, re.DOTALL)[1]
    namespace: dict = {}
    exec(block, namespace)  # noqa: S102 - our own documentation, checked as code
    return namespace["verify_signature"]


verify_signature = _documented_verify_signature()


def test_an_earn_is_delivered_signed_after_commit(earn_program, receiver):
    shop = make_partner_client(earn_program, webhook_url=receiver.url)
    account = AccountFactory(program=earn_program)

    response = shop.post(PURCHASES, _purchase(account, order_id="ORD-HOOK"))

    [request] = [r for r in receiver.wait_for(1) if r["headers"]["X-Loyalty-Event-Type"] == "points.earned"]
    signature = request["headers"]["X-Loyalty-Signature"]
    assert verify_signature(shop.partner.webhook_secret, signature, request["body"].encode())
    assert not verify_signature("whsec_wrong", signature, request["body"].encode())
    assert not verify_signature(shop.partner.webhook_secret, signature, request["body"].encode() + b" ")
    event = json.loads(request["body"])
    assert event["type"] == "points.earned"
    assert event["id"] == request["headers"]["X-Loyalty-Event-Id"]
    assert event["data"]["entry_id"] == response.json()["transaction"]["id"]
    assert event["data"]["external_reference"] == "ORD-HOOK"
    delivery = WebhookDelivery.objects.get(event_id=event["id"])
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 1, 200)


def test_a_transaction_goes_only_to_the_partner_that_made_it(earn_program, receiver):
    earned = [events.POINTS_EARNED]
    maker = make_partner_client(earn_program, webhook_url=receiver.url, webhook_events=earned)
    bystander_receiver = Receiver()
    try:
        make_partner_client(earn_program, webhook_url=bystander_receiver.url, webhook_events=earned)
        account = AccountFactory(program=earn_program)

        maker.post(PURCHASES, _purchase(account))

        assert [r["headers"]["X-Loyalty-Event-Type"] for r in receiver.wait_for(1)] == ["points.earned"]
        time.sleep(0.2)
        assert bystander_receiver.requests == []
    finally:
        bystander_receiver.close()


def test_events_without_a_partner_go_to_every_subscribed_partner_of_the_program(earn_program, receiver):
    first = make_partner_client(earn_program, webhook_url=receiver.url, webhook_events=[events.POINTS_EARNED])
    make_partner_client(earn_program, webhook_url=receiver.url, webhook_events=[events.TIER_CHANGED])
    account = AccountFactory(program=earn_program)

    points_credit(account=account, points=10, source=Source.system("goodwill"))

    [request] = receiver.wait_for(1)
    assert json.loads(request["body"])["type"] == "points.earned"
    assert WebhookDelivery.objects.get().partner == first.partner


def test_nothing_is_sent_for_a_write_that_rolls_back(earn_program, receiver):
    shop = make_partner_client(earn_program, webhook_url=receiver.url, webhook_events=[events.POINTS_REDEEMED])
    account = AccountFactory(program=earn_program)

    refused = shop.post("/api/v1/points/redemptions", {"member_id": account.member_id, "points": 10})

    assert refused.status_code == 422
    time.sleep(0.2)
    assert receiver.requests == []
    assert not WebhookDelivery.objects.exists()


@pytest.mark.celery_worker
@override_settings(LOYALTY_WEBHOOK_RETRY_BASE_SECONDS=0.2)
def test_a_receiver_that_fails_twice_gets_the_event_on_the_third_try(earn_program, celery_worker_queue):
    failing_twice = Receiver(statuses=[500, 503])
    try:
        shop = make_partner_client(earn_program, webhook_url=failing_twice.url, webhook_events=[events.POINTS_EARNED])
        account = AccountFactory(program=earn_program)

        shop.post(PURCHASES, _purchase(account))

        requests = failing_twice.wait_for(3, timeout=60)
    finally:
        failing_twice.close()
    assert len(requests) == 3
    assert len({request["headers"]["X-Loyalty-Event-Id"] for request in requests}) == 1
    assert [request["headers"]["X-Loyalty-Delivery-Attempt"] for request in requests] == ["1", "2", "3"]
    delivery = WebhookDelivery.objects.get(partner=shop.partner)
    deadline = time.monotonic() + 30
    while delivery.status == "pending" and time.monotonic() < deadline:
        time.sleep(0.1)
        delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("succeeded", 3)
    log = list(WebhookAttempt.objects.filter(delivery=delivery).values_list("number", "status_code"))
    assert log == [(1, 500), (2, 503), (3, 200)]


@pytest.mark.django_db(transaction=False)
def test_the_sweep_sends_a_delivery_whose_queueing_was_lost(earn_program, receiver, django_capture_on_commit_callbacks):
    shop = make_partner_client(earn_program, webhook_url=receiver.url, webhook_events=[events.TIER_CHANGED])
    account = AccountFactory(program=earn_program)
    with django_capture_on_commit_callbacks(execute=False) as lost:
        events.emit(events.TIER_CHANGED, account_id=account.pk, data={"from_tier": "blue", "to_tier": "gold"})
    assert len(lost) == 1
    delivery = WebhookDelivery.objects.get(partner=shop.partner)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - datetime.timedelta(minutes=2)
    )

    assert webhooks_requeue_due() == 1

    [request] = receiver.wait_for(1)
    assert json.loads(request["body"])["data"] == {"account_id": account.pk, "from_tier": "blue", "to_tier": "gold"}
    delivery.refresh_from_db()
    assert delivery.status == "succeeded"
    assert webhooks_requeue_due() == 0
