"""The permission groups the migration creates, and what each may reach in the console."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management.sql import emit_post_migrate_signal
from django.urls import reverse

from config.permission_groups import sync_permission_groups

pytestmark = pytest.mark.django_db


def _codenames(group_name: str) -> set[str]:
    permissions = Group.objects.get(name=group_name).permissions.select_related("content_type")
    return {f"{p.content_type.app_label}.{p.codename}" for p in permissions}


def test_the_migration_creates_the_four_groups_with_their_rights():
    assert set(Group.objects.values_list("name", flat=True)) >= {"Marketing", "Support", "Finance", "Administrator"}
    assert Group.objects.get(name="Administrator").permissions.count() == Permission.objects.count()

    support, marketing, finance = _codenames("Support"), _codenames("Marketing"), _codenames("Finance")
    assert {"loyalty.adjust_points", "members.block_member", "members.change_member"} <= support
    assert {"loyalty.view_ledgerentry", "loyalty.view_pointlot", "loyalty.view_pointaccount"} <= support
    assert {
        "loyalty.add_program",
        "loyalty.change_tier",
        "loyalty.view_ledgerentry",
        "members.view_member",
    } <= marketing
    assert not {"loyalty.adjust_points", "members.change_member", "members.block_member"} & marketing
    assert {"loyalty.view_ledgerentry", "loyalty.view_pointaccount", "members.view_member"} <= finance
    assert "loyalty.approve_adjustmentrequest" in finance
    writes = {codename for codename in finance if not codename.split(".")[1].startswith("view_")}
    assert writes == {"loyalty.approve_adjustmentrequest"}


def test_sync_gives_models_added_later_rights_by_the_group_rules():
    # Stands in for a model the rewards app adds after the groups' migration.
    content_type = ContentType.objects.create(app_label="rewards", model="latecomer")
    for action in ("view", "add", "change", "delete"):
        Permission.objects.create(content_type=content_type, codename=f"{action}_latecomer", name=f"Can {action}")

    sync_permission_groups()

    assert {"rewards.view_latecomer", "rewards.add_latecomer", "rewards.change_latecomer"} <= _codenames("Marketing")
    assert "rewards.delete_latecomer" not in _codenames("Marketing")
    assert "rewards.view_latecomer" in _codenames("Finance")
    assert "rewards.view_latecomer" not in _codenames("Support")
    assert "rewards.delete_latecomer" in _codenames("Administrator")


def test_every_migrate_restores_the_group_rights_and_changes_nothing_the_second_time():
    finance = Group.objects.get(name="Finance")
    finance.permissions.clear()

    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    after_first = {name: _codenames(name) for name in ("Marketing", "Support", "Finance", "Administrator")}
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")

    assert "loyalty.view_ledgerentry" in after_first["Finance"]
    assert after_first == {name: _codenames(name) for name in after_first}


@pytest.mark.parametrize(
    ("group", "page", "status"),
    [
        ("Marketing", "program_changelist", 200),
        ("Marketing", "ledger_changelist", 200),
        ("Marketing", "member_change", 200),
        ("Marketing", "adjust", 403),
        ("Marketing", "block", 403),
        ("Marketing", "recompute_tier", 403),
        ("Finance", "ledger_changelist", 200),
        ("Finance", "account_changelist", 200),
        ("Finance", "lot_changelist", 200),
        ("Finance", "member_change", 200),
        ("Finance", "adjust", 403),
        ("Finance", "block", 403),
        ("Finance", "program_add", 403),
        ("Support", "adjust", 200),
        ("Support", "block", 200),
        ("Support", "recompute_tier", 200),
        ("Support", "member_change", 200),
        ("Support", "program_add", 403),
        ("Administrator", "adjust", 200),
        ("Administrator", "program_add", 200),
    ],
)
def test_each_group_reaches_only_its_pages(client_for, funded_account, group, page, status):
    account, member = funded_account, funded_account.member
    urls = {
        "program_changelist": reverse("admin:loyalty_program_changelist"),
        "program_add": reverse("admin:loyalty_program_add"),
        "ledger_changelist": reverse("admin:loyalty_ledgerentry_changelist"),
        "account_changelist": reverse("admin:loyalty_pointaccount_changelist"),
        "lot_changelist": reverse("admin:loyalty_pointlot_changelist"),
        "member_change": reverse("admin:members_member_change", args=[member.pk]),
        "adjust": reverse("admin:loyalty_pointaccount_adjust", args=[account.pk]),
        "recompute_tier": reverse("admin:loyalty_pointaccount_recompute_tier", args=[account.pk]),
        "block": reverse("admin:members_member_block", args=[member.pk]),
    }

    response = client_for(group).get(urls[page])

    assert response.status_code == status


def test_finance_cannot_change_a_member(client_for, funded_account):
    member = funded_account.member
    url = reverse("admin:members_member_change", args=[member.pk])

    response = client_for("Finance").post(url, {"first_name": "Changed", "preferred_language": "en"})

    assert response.status_code == 403
    member.refresh_from_db()
    assert member.first_name == "Aisha"


def test_support_changes_a_member_through_the_service_rules(client_for, funded_account):
    member = funded_account.member
    url = reverse("admin:members_member_change", args=[member.pk])
    data = {"first_name": "Noor", "last_name": "Rahman", "email": "Noor@Example.COM", "preferred_language": "en"}

    response = client_for("Support").post(url, data)

    assert response.status_code == 302
    member.refresh_from_db()
    assert (member.first_name, member.email) == ("Noor", "noor@example.com")


def test_the_member_page_offers_only_the_actions_the_user_may_take(client_for, funded_account):
    url = reverse("admin:members_member_change", args=[funded_account.member.pk])
    adjust_url = reverse("admin:loyalty_pointaccount_adjust", args=[funded_account.pk])
    block_url = reverse("admin:members_member_block", args=[funded_account.member.pk])

    support_page = client_for("Support").get(url).content.decode()
    marketing_page = client_for("Marketing").get(url).content.decode()

    assert adjust_url in support_page and block_url in support_page
    assert adjust_url not in marketing_page and block_url not in marketing_page
