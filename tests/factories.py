"""Factories: configuration rows are built directly; members and accounts go through the services."""

import itertools
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from loyalty.models import Program, Tier
from loyalty.services import member_enroll
from members.services import member_create

_sequence = itertools.count(1)


class ProgramFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Program
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"program-{n}")
    name = factory.Sequence(lambda n: f"Program {n}")
    currency = "AED"
    earn_rate = Decimal("1")
    timezone = "Asia/Dubai"


class TierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tier

    program = factory.SubFactory(ProgramFactory)
    rank = factory.Sequence(lambda n: n)
    code = factory.LazyAttribute(lambda tier: f"tier-{tier.rank}")
    name = factory.LazyAttribute(lambda tier: f"Tier {tier.rank}")
    threshold = Decimal("0")


class MemberFactory(factory.Factory):
    """Built through ``member_create`` so every member is normalised as in production."""

    class Meta:
        model = dict

    external_id = factory.LazyFunction(lambda: f"M{next(_sequence):07d}")
    first_name = "Aisha"
    last_name = "Rahman"
    email = factory.LazyAttribute(lambda member: f"{member.external_id.lower()}@example.com")

    @classmethod
    def _create(cls, model_class, **kwargs):
        return member_create(**kwargs)


class AccountFactory(factory.Factory):
    """A member enrolled in a program through ``member_enroll``."""

    class Meta:
        model = dict

    member = factory.SubFactory(MemberFactory)
    program = factory.SubFactory(ProgramFactory)

    @classmethod
    def _create(cls, model_class, **kwargs):
        return member_enroll(**kwargs)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"staff{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    is_staff = True
    password = factory.django.Password("correct-horse-battery")
