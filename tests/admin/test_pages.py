"""Every page of the console answers for a superuser, and models are grouped by the job people do."""

import pytest
from django.contrib import admin
from django.urls import reverse

from config.admin_site import section_of
from loyalty.models import AdjustmentRequest, LedgerEntry, PointAccount, PointLot, Program, Tier, TierChange
from loyalty.services import adjustment_submit
from members.models import Member
from members.services import member_create

pytestmark = pytest.mark.django_db


def _admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", list(admin.site._registry), ids=lambda model: model._meta.label)
def test_every_changelist_answers_for_a_superuser(admin_client, funded_account, model):
    response = admin_client.get(_admin_url(model, "changelist"))

    assert response.status_code == 200


@pytest.mark.parametrize(
    "model",
    [Member, Program, Tier, PointAccount, PointLot, LedgerEntry, TierChange, AdjustmentRequest],
    ids=lambda m: m._meta.label,
)
def test_every_change_page_answers_for_a_superuser(admin_client, admin_user, funded_account, model):
    adjustment_submit(account=funded_account, points=5, reason="Welcome gift", user=admin_user)
    obj = model.objects.order_by("pk").first()
    assert obj is not None

    response = admin_client.get(_admin_url(model, "change", obj.pk))

    assert response.status_code == 200


def test_changelists_search_and_filter_without_errors(admin_client, funded_account):
    member = funded_account.member
    pages = [
        (Member, {"q": member.external_id[:4]}),
        (Member, {"q": member.email.upper()}),
        (Member, {"status__exact": "blocked", "joined_at__gte": "2020-01-01 00:00:00+00:00"}),
        (PointAccount, {"q": member.external_id, "program__id__exact": funded_account.program_id}),
        (PointAccount, {"tier": "not-a-number"}),
        (LedgerEntry, {"q": "order-", "kind__exact": "earn", "source_type__exact": "partner"}),
        (LedgerEntry, {"account__program__id__exact": funded_account.program_id}),
        (PointLot, {"q": member.external_id}),
        (TierChange, {"q": member.external_id}),
    ]
    for model, params in pages:
        response = admin_client.get(_admin_url(model, "changelist"), params)
        assert response.status_code in (200, 302), (model, params)


def test_member_search_finds_by_id_prefix_email_in_any_case_and_full_phone(admin_client):
    member = member_create(external_id="CARD-12345", email="noor@example.com", phone="+971501234567")
    member_create(external_id="OTHER-1", email="someone@example.com")
    url = _admin_url(Member, "changelist")

    for term in ("CARD-12", "NOOR@EX", "+971 50 123 4567"):
        response = admin_client.get(url, {"q": term})
        assert list(response.context["cl"].result_list) == [member], term


def test_ledger_search_finds_entries_by_reference_or_member_id(admin_client, funded_account):
    url = _admin_url(LedgerEntry, "changelist")

    by_reference = admin_client.get(url, {"q": "order-2"}).context["cl"].result_list
    by_member = admin_client.get(url, {"q": funded_account.member.external_id}).context["cl"].result_list

    assert [entry.external_reference for entry in by_reference] == ["order-2"]
    assert sorted(entry.external_reference for entry in by_member) == ["order-1", "order-2"]


def test_models_are_grouped_by_job(admin_client):
    response = admin_client.get(reverse("admin:index"))

    sections = {
        section["app_label"]: [m["object_name"] for m in section["models"]] for section in response.context["app_list"]
    }
    assert "Member" in sections["members"]
    assert {"LedgerEntry", "PointAccount", "PointLot", "TierChange"} <= set(sections["points"])
    assert {"Program", "Tier", "User", "Group"} <= set(sections["settings"])
    assert "loyalty" not in sections


def test_a_section_page_lists_its_models(admin_client):
    response = admin_client.get(reverse("admin:section", kwargs={"section": "points"}))

    assert response.status_code == 200
    assert [section["app_label"] for section in response.context["app_list"]] == ["points"]
    assert admin_client.get(reverse("admin:section", kwargs={"section": "nowhere"})).status_code == 404


def test_models_registered_later_find_a_section_by_name():
    class ImportBatch:
        class _meta:
            label_lower = "loyalty.importbatch"
            model_name = "importbatch"
            app_label = "loyalty"

    class WebhookDelivery(ImportBatch):
        class _meta(ImportBatch._meta):
            label_lower = "loyalty.webhookdelivery"
            model_name = "webhookdelivery"

    class Unknown(ImportBatch):
        class _meta(ImportBatch._meta):
            label_lower = "thirdparty.widget"
            model_name = "widget"
            app_label = "thirdparty"

    assert section_of(ImportBatch) == "imports"
    assert section_of(WebhookDelivery) == "partners"
    assert section_of(Unknown) == "settings"
