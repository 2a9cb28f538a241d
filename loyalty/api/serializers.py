"""Shapes of the points and member endpoints. Input serializers check types and sizes only; the rules
(balances, policies, who may reverse what) are the services'."""

import functools
from decimal import Decimal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api import StrictInputSerializer
from loyalty.models import LedgerEntry, PointAccount, PointLot, Tier
from loyalty.services import MAX_POINTS_PER_ENTRY
from members.api.serializers import MemberSerializer
from members.models import Member

MAX_ID = 2**63 - 1
MAX_AMOUNT_DIGITS = 12


class TierSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tier
        fields = ["code", "name", "earn_multiplier"]
        read_only_fields = fields


class BalanceSerializer(serializers.ModelSerializer):
    tier = TierSerializer(allow_null=True, read_only=True)

    class Meta:
        model = PointAccount
        fields = ["available", "pending", "lifetime_earned", "lifetime_spent", "lifetime_expired", "tier"]
        read_only_fields = fields


class NextExpirySerializer(serializers.Serializer):
    expires_at = serializers.DateTimeField()
    points = serializers.IntegerField()


class BalanceDetailSerializer(BalanceSerializer):
    member_id = serializers.IntegerField(read_only=True)
    points_name = serializers.CharField(source="program.points_name", read_only=True)
    next_expiry = serializers.SerializerMethodField(help_text=_("The next date some available points expire."))

    class Meta(BalanceSerializer.Meta):
        fields = ["member_id", "points_name", *BalanceSerializer.Meta.fields, "next_expiry"]
        read_only_fields = fields

    @extend_schema_field(NextExpirySerializer(allow_null=True))
    def get_next_expiry(self, account: PointAccount) -> dict | None:
        expiry = self.context["next_expiry"]
        return NextExpirySerializer(expiry).data if expiry else None


class LotSerializer(serializers.ModelSerializer):
    state = serializers.SerializerMethodField()

    class Meta:
        model = PointLot
        fields = ["id", "points", "remaining", "state", "activates_at", "expires_at", "created_at"]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=["pending", "active"]))
    def get_state(self, lot: PointLot) -> str:
        return "pending" if lot.is_pending else "active"


class TransactionSerializer(serializers.ModelSerializer):
    member_id = serializers.IntegerField(source="account.member_id", read_only=True)
    reference = serializers.CharField(source="external_reference", allow_null=True, read_only=True)
    reverses = serializers.IntegerField(source="reverses_id", allow_null=True, read_only=True)
    amount = serializers.DecimalField(
        source="spend_amount", max_digits=14, decimal_places=2, allow_null=True, read_only=True
    )

    class Meta:
        model = LedgerEntry
        fields = [
            "id",
            "member_id",
            "kind",
            "points",
            "reference",
            "reverses",
            "amount",
            "currency",
            "reason",
            "metadata",
            "effective_at",
            "created_at",
        ]
        read_only_fields = fields


class PointsResultSerializer(serializers.Serializer):
    """What every points write returns: the new entry and the balance right after it."""

    transaction = TransactionSerializer()
    balance = BalanceSerializer()


class EnrolledMemberSerializer(MemberSerializer):
    """A member as a partner sees them: their attributes and their enrolment in the partner's program."""

    enrolled_at = serializers.DateTimeField(source="enrolment.created_at", read_only=True)
    tier = TierSerializer(source="enrolment.tier", allow_null=True, read_only=True)

    class Meta(MemberSerializer.Meta):
        fields = [*MemberSerializer.Meta.fields, "enrolled_at", "tier"]
        read_only_fields = fields


def enrolled_member(account: PointAccount) -> Member:
    """The account's member, carrying the account as ``enrolment`` for ``EnrolledMemberSerializer``."""
    member = account.member
    member.enrolment = account
    return member


@functools.cache
def _shared(serializer_class: type[serializers.Serializer]) -> serializers.Serializer:
    return serializer_class()


def represent(serializer_class: type[serializers.Serializer], instance) -> dict:
    """``serializer_class(instance).data``, by one shared instance per class whose fields are built once.

    Building a serializer's fields (model introspection, deep copies, lazy translations) costs more than all
    the rest of a write request's Python; representing an object reads the fields and changes nothing.
    """
    return _shared(serializer_class).to_representation(instance)


def validated(serializer_class: type[serializers.Serializer], data) -> dict:
    """``serializer_class(data=data)``'s validated data, or the ValidationError ``is_valid`` would raise.

    Validation, like ``represent``, runs on the shared instance: it builds its result and changes nothing.
    """
    try:
        return _shared(serializer_class).run_validation(data)
    except (serializers.ValidationError, DjangoValidationError) as error:
        raise serializers.ValidationError(serializers.as_serializer_error(error)) from error


def account_after(entry: LedgerEntry, *, tier: Tier | None = None) -> PointAccount:
    """The account as the write left it; ``tier``, when the caller already loaded it, saves a query."""
    account = entry.account
    if tier is not None and account.tier_id == tier.pk:
        account.tier = tier
    return account


def points_result(entry: LedgerEntry, *, tier: Tier | None = None) -> dict:
    """The body of a points write: the entry and the balance right after it."""
    return represent(PointsResultSerializer, {"transaction": entry, "balance": account_after(entry, tier=tier)})


# --------------------------------------------------------------------------------------------------------------
# Input


@extend_schema_field(
    {"type": "string", "format": "decimal", "pattern": r"^[0-9]{1,10}(\.[0-9]{1,2})?$", "example": "250.00"}
)
class AmountField(serializers.DecimalField):
    """Money in: a decimal string, never negative, at most two decimal places."""

    def __init__(self, **kwargs):
        super().__init__(max_digits=MAX_AMOUNT_DIGITS, decimal_places=2, min_value=Decimal(0), **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):  # a JSON number may already have been through a float
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field(OpenApiTypes.INT64)
class IdField(serializers.IntegerField):
    def __init__(self, **kwargs):
        super().__init__(min_value=1, max_value=MAX_ID, **kwargs)


class MemberReferenceSerializer(StrictInputSerializer):
    """Names the member: by our id or by their external id, exactly one of the two."""

    member_id = IdField(required=False, help_text=_("The member's id, as returned by enrolment or look-up."))
    member_external_id = serializers.CharField(
        max_length=64, required=False, help_text=_("Or the member's external id (e.g. card number).")
    )

    def validate(self, attrs):
        if ("member_id" in attrs) == ("member_external_id" in attrs):
            raise serializers.ValidationError(
                {"member_id": [_("Give exactly one of member_id and member_external_id.")]}
            )
        return attrs


class PointsChangeSerializer(MemberReferenceSerializer):
    points = serializers.IntegerField(min_value=1, max_value=MAX_POINTS_PER_ENTRY)
    reference = serializers.CharField(
        max_length=128,
        required=False,
        allow_null=True,
        help_text=_(
            "Your reference for this transaction; unique among your transactions, so a retry with the "
            "same reference can never count twice."
        ),
    )
    reason = serializers.CharField(max_length=255, required=False, allow_blank=True)


class ReversalSerializer(StrictInputSerializer):
    reference = serializers.CharField(
        max_length=128, help_text=_("The reference (order id) of your transaction to reverse.")
    )
    points = serializers.IntegerField(
        min_value=1, max_value=MAX_POINTS_PER_ENTRY, required=False, help_text=_("Reverse only this many points.")
    )
    amount = AmountField(
        required=False, help_text=_("Or: the refunded amount of a purchase; points are taken back in proportion.")
    )
    refund_reference = serializers.CharField(
        max_length=128,
        required=False,
        allow_null=True,
        help_text=_("Your id for this refund; unique like any reference."),
    )
    reason = serializers.CharField(max_length=255, required=False, allow_blank=True)

    def validate(self, attrs):
        if "points" in attrs and "amount" in attrs:
            raise serializers.ValidationError({"amount": [_("Give either points or amount, not both.")]})
        return attrs
