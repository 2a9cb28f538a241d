"""The member page: each account's balance, tier, open lots and a paginated ledger; edits through services."""

import pytest
from django.urls import reverse

from loyalty.services import Source, points_credit, points_debit
from members.models import Member
from tests.factories import AccountFactory, ProgramFactory

pytestmark = pytest.mark.django_db


def _member_url(member) -> str:
    return reverse("admin:members_member_change", args=[member.pk])


def test_the_member_page_shows_each_account_with_balances_tier_and_open_lots(admin_client, funded_account):
    points_debit(account=funded_account, points=350, source=Source.partner(1))
    second = AccountFactory(member=funded_account.member, program=ProgramFactory(name="Fuel Rewards"))

    response = admin_client.get(_member_url(funded_account.member))

    sections = {section.account.pk: section for section in response.context["account_sections"]}
    assert set(sections) == {funded_account.pk, second.pk}
    section = sections[funded_account.pk]
    assert (section.account.available, section.account.lifetime_spent) == (150, 350)
    assert section.account.tier.rank == 0
    assert [lot.remaining for lot in section.lots] == [150]
    assert [entry.points for entry in section.ledger.object_list] == [-350, 200, 300]
    page = response.content.decode()
    assert "Fuel Rewards" in page and f'id="account-{funded_account.pk}"' in page


def test_the_ledger_on_the_member_page_pages_by_fifty_per_account(admin_client, funded_account):
    for number in range(118):
        points_credit(account=funded_account, points=1, source=Source.partner(2), external_reference=f"r{number}")
    url = _member_url(funded_account.member)
    parameter = f"ledger-{funded_account.pk}"

    first = admin_client.get(url).context["account_sections"][0].ledger
    last = admin_client.get(url, {parameter: "3"}).context["account_sections"][0].ledger
    beyond = admin_client.get(url, {parameter: "99"}).context["account_sections"][0].ledger

    assert (len(first.object_list), first.paginator.count, first.paginator.num_pages) == (50, 120, 3)
    assert [entry.external_reference for entry in last.object_list][-2:] == ["order-2", "order-1"]
    assert len(last.object_list) == 20
    assert beyond.number == 3


def test_adding_a_member_normalises_through_the_member_service(admin_client):
    data = {"external_id": " CARD-77 ", "email": "Layla@Example.com", "phone": "+971 50 123 4567"}

    response = admin_client.post(reverse("admin:members_member_add"), {**data, "preferred_language": "ar"})

    assert response.status_code == 302
    member = Member.objects.get(external_id="CARD-77")
    assert (member.email, member.phone, member.enrollment_channel) == (
        "layla@example.com",
        "+971501234567",
        Member.Channel.STAFF,
    )


def test_a_bad_phone_is_shown_on_the_phone_field_and_nothing_is_saved(admin_client):
    data = {"external_id": "CARD-78", "phone": "12345", "preferred_language": "en"}

    response = admin_client.post(reverse("admin:members_member_add"), data)

    assert response.status_code == 200
    assert "phone" in response.context["adminform"].form.errors
    assert not Member.objects.filter(external_id="CARD-78").exists()


def test_members_cannot_be_deleted_from_the_console(admin_client, funded_account):
    member = funded_account.member

    response = admin_client.post(reverse("admin:members_member_delete", args=[member.pk]), {"post": "yes"})

    assert response.status_code == 403
    assert Member.objects.filter(pk=member.pk).exists()
