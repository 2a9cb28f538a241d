"""Member attributes as the API reads and writes them. Normalising and validating the values themselves
(email shape, phone to E.164, country codes) is ``members.services``'s job; these only check types and sizes."""

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from config.api import StrictInputSerializer
from members.models import Member


class MemberFieldsSerializer(StrictInputSerializer):
    """Attributes a partner may set; every one optional, only those sent are changed."""

    email = serializers.CharField(max_length=254, required=False, allow_blank=True)
    phone = serializers.CharField(
        max_length=32,
        required=False,
        allow_blank=True,
        help_text=_("With its country code (+971…), or national with `country` set; stored as E.164."),
    )
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    birth_date = serializers.DateField(required=False, allow_null=True)
    gender = serializers.ChoiceField(choices=Member.Gender.choices, required=False, allow_blank=True)
    city = serializers.CharField(max_length=100, required=False, allow_blank=True)
    region = serializers.CharField(max_length=100, required=False, allow_blank=True)
    country = serializers.CharField(
        max_length=2, required=False, allow_blank=True, help_text=_("ISO 3166-1 alpha-2, e.g. AE.")
    )
    preferred_language = serializers.ChoiceField(choices=settings.LANGUAGES, required=False)


class MemberCreateSerializer(MemberFieldsSerializer):
    external_id = serializers.CharField(
        max_length=64, help_text=_("Your identifier for the member (e.g. card number); unique across members.")
    )


class MemberSerializer(serializers.ModelSerializer):
    gender = serializers.ChoiceField(choices=Member.Gender.choices, allow_blank=True, read_only=True)

    class Meta:
        model = Member
        fields = [
            "id",
            "external_id",
            "email",
            "phone",
            "first_name",
            "last_name",
            "birth_date",
            "gender",
            "city",
            "region",
            "country",
            "preferred_language",
            "status",
            "joined_at",
        ]
        read_only_fields = fields
