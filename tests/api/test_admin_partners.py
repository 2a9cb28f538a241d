"""The operator console for partners: issuing a key shows it once, revoking it, rotating the webhook secret,
and resending a webhook delivery from the log."""

import hashlib
import re

import pytest
from rest_framework.test import APIClient

from loyalty.models import ApiKey, Partner, Scope, WebhookDelivery
from loyalty.webhooks import webhook_attempt
from tests.api.conftest import make_partner_client
from tests.api.test_webhooks import Receiver

ADD_KEY = "/admin/loyalty/apikey/add/"


def test_issuing_a_key_shows_it_once_and_stores_only_its_digest(admin_client, shop, member_account):
    response = admin_client.post(ADD_KEY, {"partner": shop.partner.pk, "name": "Till 4", "scopes": [Scope.POINTS_READ]})

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    raw_key = re.search(r'value="(lk_[^"]+)"', response.content.decode())[1]
    api_key = ApiKey.objects.get(name="Till 4")
    assert api_key.key_hash == hashlib.sha256(raw_key.encode()).hexdigest()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert client.get(f"/api/v1/members/{member_account.member_id}/balance").status_code == 200
    assert raw_key not in admin_client.get(f"/admin/loyalty/apikey/{api_key.pk}/change/").content.decode()


def test_a_key_cannot_get_a_scope_its_partner_lacks(admin_client, earn_program):
    limited = make_partner_client(earn_program, scopes=[Scope.POINTS_READ])

    response = admin_client.post(
        ADD_KEY, {"partner": limited.partner.pk, "name": "Too wide", "scopes": [Scope.POINTS_EARN]}
    )

    assert response.status_code == 200
    assert "lk_" not in response.content.decode()
    assert response.context["form"].errors["scopes"]
    assert not ApiKey.objects.filter(name="Too wide").exists()


def test_revoke_action_locks_the_key_out(admin_client, shop, member_account, django_capture_on_commit_callbacks):
    api_key = ApiKey.objects.get(partner=shop.partner)

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post("/admin/loyalty/apikey/", {"action": "revoke", "_selected_action": [api_key.pk]}, follow=True)

    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is not None
    assert shop.get(f"/api/v1/members/{member_account.member_id}/balance").status_code == 401


def test_partner_added_in_the_admin_gets_a_signing_secret_which_can_be_rotated(admin_client, earn_program):
    admin_client.post(
        "/admin/loyalty/partner/add/",
        {
            "name": "Web shop",
            "program": earn_program.pk,
            "active": "on",
            "scopes": [Scope.POINTS_EARN, Scope.POINTS_READ],
            "rate_limit": 1200,
            "webhook_url": "https://shop.example.com/hooks",
        },
    )
    partner = Partner.objects.get(name="Web shop")
    first_secret = partner.webhook_secret

    admin_client.post(f"/admin/loyalty/partner/{partner.pk}/rotate-webhook-secret/", {})

    assert first_secret.startswith("whsec_")
    assert partner.scopes == [Scope.POINTS_EARN, Scope.POINTS_READ]
    partner.refresh_from_db()
    assert partner.webhook_secret.startswith("whsec_")
    assert partner.webhook_secret != first_secret


@pytest.mark.django_db(transaction=True)
def test_resend_delivers_a_failed_delivery_again(admin_client, earn_program):
    receiver = Receiver(statuses=[500])
    try:
        shop = make_partner_client(earn_program, webhook_url=receiver.url, webhook_events=["member.enrolled"])
        shop.post("/api/v1/members", {"external_id": "CARD-9"})
        receiver.wait_for(1)
        delivery = WebhookDelivery.objects.get(partner=shop.partner)
        assert (delivery.status, delivery.last_status_code) == ("pending", 500)

        admin_client.post("/admin/loyalty/webhookdelivery/", {"action": "resend", "_selected_action": [delivery.pk]})

        receiver.wait_for(2)
    finally:
        receiver.close()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 2, 200)
    page = admin_client.get(f"/admin/loyalty/webhookdelivery/{delivery.pk}/change/").content.decode()
    assert "member.enrolled" in page
    assert webhook_attempt(delivery_id=delivery.pk).sent is False  # nothing pending any more
