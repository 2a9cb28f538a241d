"""Comparison views for bench/api_earn.py; never mounted by the project's own URLs.

- ``NaiveEarnView``: earning the way a first DRF version would: the project's defaults (key authentication,
  throttle, JSON), a serializer, then ``select_for_update`` on the account, ``save()`` and an insert of the
  entry, with the program and tier read lazily. No idempotency, no lots, no events.
- ``BareView``: a plain Django view running one SQL statement, with no authentication: the floor.
"""

from decimal import Decimal

from django.db import connection, transaction
from django.http import JsonResponse
from django.views import View
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from loyalty.models import EntryKind, LedgerEntry, PointAccount, SourceType
from loyalty.policies import points_for_amount


class NaiveEarnSerializer(serializers.Serializer):
    member_id = serializers.IntegerField(min_value=1)
    order_id = serializers.CharField(max_length=128)
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0.01"))
    currency = serializers.CharField(max_length=3)


class NaiveEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = LedgerEntry
        fields = ["id", "account", "kind", "points", "external_reference", "spend_amount", "currency", "created_at"]


class NaiveEarnView(APIView):
    def post(self, request):
        serializer = NaiveEarnSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        with transaction.atomic():
            account = PointAccount.objects.select_for_update().get(
                member_id=data["member_id"], program_id=request.auth.program_id
            )
            multiplier = account.tier.earn_multiplier if account.tier_id else Decimal(1)
            points = points_for_amount(account.program, data["amount"], multiplier)
            account.available += points
            account.lifetime_earned += points
            account.save()
            entry = LedgerEntry.objects.create(
                account=account,
                kind=EntryKind.EARN,
                points=points,
                source_type=SourceType.PARTNER,
                source_id=str(request.auth.partner_id),
                external_reference=data["order_id"],
                spend_amount=data["amount"],
                currency=data["currency"],
            )
        return Response(NaiveEntrySerializer(entry).data, status=status.HTTP_201_CREATED)


class BareView(View):
    def get(self, request):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            (value,) = cursor.fetchone()
        return JsonResponse({"ok": value})
