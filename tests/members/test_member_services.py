import datetime

import pytest
from django.db import IntegrityError, transaction

from members.errors import DuplicateMember
from members.models import Member
from members.services import member_block, member_create, member_unblock, member_update

pytestmark = pytest.mark.django_db


def test_member_fields_are_normalised_on_create():
    member = member_create(
        external_id="  C-1001 ",
        email="  Aisha.Rahman@Example.COM ",
        phone="050 123 4567",
        country="ae",
        first_name="عائشة",
        last_name="Cafe\u0301",  # decomposed é becomes one code point (NFC)
    )

    assert member.external_id == "C-1001"
    assert member.email == "aisha.rahman@example.com"
    assert member.phone == "+971501234567"
    assert member.country == "AE"
    assert member.last_name == "Caf\u00e9"
    assert str(member) == "عائشة Caf\u00e9 (C-1001)"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"phone": "12345"}, "phone"),
        ({"phone": "0501234567"}, "phone"),  # no country to read a local number against
        ({"country": "ARE"}, "country"),
        ({"birth_date": "2026-02-30"}, "birth_date"),
        ({"birth_date": datetime.date(2999, 1, 1)}, "birth_date"),
        ({"gender": "x"}, "gender"),
        ({"preferred_language": "fr"}, "preferred_language"),
        ({"first_name": "a" * 151}, "first_name"),
        ({"first_name": "tab\there"}, "first_name"),
        ({"nickname": "Ash"}, "nickname"),
    ],
)
def test_bad_member_input_names_the_field_and_writes_nothing(fields, field):
    with pytest.raises(Exception) as error:
        member_create(external_id="C-2000", **fields)

    assert (error.value.code, error.value.field) == ("invalid", field)
    assert not Member.objects.exists()


def test_external_id_is_required_and_unique():
    member_create(external_id="C-1")
    with pytest.raises(DuplicateMember) as error:
        member_create(external_id="C-1")
    assert error.value.field == "external_id"
    with pytest.raises(Exception) as error:
        member_create(external_id="   ")
    assert error.value.field == "external_id"
    assert Member.objects.count() == 1


def test_update_touches_only_the_given_fields():
    member = member_create(external_id="C-3", email="a@example.com", city="Dubai")

    member_update(member=member, phone="+60 12-345 6789")

    member.refresh_from_db()
    assert (member.phone, member.email, member.city) == ("+60123456789", "a@example.com", "Dubai")


def test_block_needs_a_reason_and_unblock_clears_it():
    member = member_create(external_id="C-4")
    with pytest.raises(Exception) as error:
        member_block(member=member, reason=" ")
    assert error.value.field == "reason"

    member_block(member=member, reason="Chargeback fraud")
    assert Member.objects.get(pk=member.pk).is_blocked
    member_unblock(member=member)
    assert Member.objects.get(pk=member.pk).blocked_reason == ""


def test_database_refuses_unnormalised_email_and_phone():
    with pytest.raises(IntegrityError), transaction.atomic():
        Member.objects.create(external_id="raw-1", email="Upper@Example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        Member.objects.create(external_id="raw-2", phone="0501234567")
