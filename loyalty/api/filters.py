"""Query filters of the list endpoints (django-filter); bad values are a 400 naming the parameter."""

import datetime

from django import forms
from django.utils.translation import gettext
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField
from drf_spectacular.utils import extend_schema_field

from loyalty.models import EntryKind, LedgerEntry, PointAccount
from members.normalize import normalize_email, normalize_phone

MAX_ID = 2**63 - 1


@extend_schema_field({"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID})
class IdFilter(filters.NumberFilter):
    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        super().__init__(*args, min_value=1, max_value=MAX_ID, **kwargs)


class UtcIsoDateTimeField(IsoDateTimeField):
    """ISO 8601 date-times, compared in UTC: any offset Python accepts, even one PostgreSQL would not."""

    def to_python(self, value):
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(datetime.UTC)
        except OverflowError as error:
            raise forms.ValidationError(
                gettext("Enter a date and time within years 1 to 9999."), code="invalid"
            ) from error


class UtcDateTimeFilter(filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class StrictFilterSet(filters.FilterSet):
    """A parameter that is sent must have a value: ``?kind=`` is a 400, not "no filter"."""

    def is_valid(self) -> bool:
        valid = super().is_valid()
        for name in self.filters:
            if self.data.get(name) == "":
                self.form.add_error(name, gettext("Give a value or leave the parameter out."))
                valid = False
        return valid


class MemberFilter(StrictFilterSet):
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


class TransactionFilter(StrictFilterSet):
    member_id = IdFilter(field_name="account__member_id")
    kind = filters.ChoiceFilter(choices=EntryKind.choices)
    reference = filters.CharFilter(field_name="external_reference", max_length=128)
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = LedgerEntry
        fields = ["member_id", "kind", "reference", "created_after", "created_before"]
