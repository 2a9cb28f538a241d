"""Query filters of the list endpoints (django-filter); bad values are a 400 naming the parameter."""

from django import forms
from django_filters import rest_framework as filters

from loyalty.models import EntryKind, LedgerEntry, PointAccount
from members.normalize import normalize_email, normalize_phone

MAX_ID = 2**63 - 1


class IdFilter(filters.NumberFilter):
    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        super().__init__(*args, min_value=1, max_value=MAX_ID, **kwargs)


class MemberFilter(filters.FilterSet):
    external_id = filters.CharFilter(field_name="member__external_id", max_length=64)
    email = filters.CharFilter(method="filter_email", max_length=254)
    phone = filters.CharFilter(method="filter_phone", max_length=32, help_text="E.164, e.g. +971501234567")

    class Meta:
        model = PointAccount
        fields = ["external_id", "email", "phone"]

    def filter_email(self, queryset, name, value):
        return queryset.filter(member__email=normalize_email(value))

    def filter_phone(self, queryset, name, value):
        return queryset.filter(member__phone=normalize_phone(value))


class TransactionFilter(filters.FilterSet):
    member_id = IdFilter(field_name="account__member_id")
    kind = filters.ChoiceFilter(choices=EntryKind.choices)
    reference = filters.CharFilter(field_name="external_reference", max_length=128)
    created_after = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = LedgerEntry
        fields = ["member_id", "kind", "reference", "created_after", "created_before"]
