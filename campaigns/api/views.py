"""The purchase endpoint: a business event that the rules engine turns into points."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status

from campaigns.api.serializers import PurchaseResultSerializer, PurchaseSerializer
from campaigns.services import purchase_earn
from loyalty.api import schema
from loyalty.api.serializers import account_after, represent, validated
from loyalty.api.views import PartnerView
from loyalty.api.writes import idempotent_response
from loyalty.models import Scope


@extend_schema_view(
    post=extend_schema(
        operation_id="purchases_earn",
        summary=_("Earn points from a purchase"),
        description=_(
            "Points = amount x the program's earn rate x the member's tier multiplier, rounded per program policy. "
            "The order id becomes the transaction's reference: the same order never earns twice (409 "
            "`duplicate_reference`), and it is what you reverse a refund by. Needs `points:earn`."
        ),
        request=PurchaseSerializer,
        parameters=[schema.IDEMPOTENCY_KEY],
        responses={201: PurchaseResultSerializer, **schema.error_responses(400, 403, 404, 409, 422)},
        examples=[
            schema.request_example(
                "purchase",
                {
                    "member_id": 4711,
                    "order_id": "ORD-1001",
                    "amount": "250.00",
                    "currency": "AED",
                    "items": [{"sku": "SKU-1", "quantity": 2, "amount": "250.00"}],
                },
            ),
            schema.response_example(
                "earned",
                {"points": 375, "transaction": schema.TRANSACTION_EXAMPLE, "balance": schema.BALANCE_EXAMPLE},
                status_code=201,
            ),
        ],
    )
)
class PurchaseView(PartnerView):
    required_scopes = {"POST": Scope.POINTS_EARN}

    def post(self, request):
        data = validated(PurchaseSerializer, request.data)

        def perform():
            account = self.points_account(
                member_id=data.get("member_id"), member_external_id=data.get("member_external_id")
            )
            earning = purchase_earn(
                account=account,
                source=self.credentials.source,
                order_id=data["order_id"],
                amount=data["amount"],
                currency=data["currency"],
                occurred_at=data.get("occurred_at"),
                items=data.get("items"),
            )
            if earning.entry is not None:
                account = account_after(earning.entry, tier=account.tier)
            body = represent(
                PurchaseResultSerializer, {"points": earning.points, "transaction": earning.entry, "balance": account}
            )
            return status.HTTP_201_CREATED, body

        return idempotent_response(request, perform)
