from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from campaigns.services import MAX_ITEMS
from config.api import StrictInputSerializer
from loyalty.api.serializers import (
    AmountField,
    BalanceSerializer,
    MemberReferenceSerializer,
    TransactionSerializer,
)


class PurchaseItemSerializer(StrictInputSerializer):
    sku = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000, default=1)
    amount = AmountField(help_text=_("Line total."))
    category = serializers.CharField(max_length=64, required=False, allow_blank=True)


class PurchaseSerializer(MemberReferenceSerializer):
    order_id = serializers.CharField(
        max_length=128, help_text=_("Your order id; a second purchase with the same order id is refused with 409.")
    )
    amount = AmountField(help_text=_("The amount that earns points."))
    currency = serializers.RegexField(
        r"^[A-Za-z]{3}$", max_length=3, help_text=_("ISO 4217; must be the program's currency.")
    )
    occurred_at = serializers.DateTimeField(required=False, help_text=_("When the purchase happened; default now."))
    items = PurchaseItemSerializer(many=True, required=False, max_length=MAX_ITEMS)


class PurchaseResultSerializer(serializers.Serializer):
    points = serializers.IntegerField(help_text=_("Points earned (0 when the amount earns none)."))
    transaction = TransactionSerializer(allow_null=True)
    balance = BalanceSerializer()
