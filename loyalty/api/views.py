"""Partner endpoints for members, balances, lots, the partner's own ledger, and point credits, redemptions
and reversals. Each view validates input, calls one service (through the idempotent write path for writes)
and serializes the result; every rule lives in the services."""

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import BoundedLimitOffsetPagination
from loyalty.api import schema
from loyalty.api.auth import ScopePermission
from loyalty.api.filters import MemberFilter, TransactionFilter
from loyalty.api.serializers import (
    BalanceDetailSerializer,
    EnrolledMemberSerializer,
    LotSerializer,
    PointsChangeSerializer,
    PointsResultSerializer,
    ReversalSerializer,
    TransactionSerializer,
    enrolled_member,
    points_result,
    represent,
    validated,
)
from loyalty.api.writes import idempotent_response
from loyalty.models import LedgerEntry, PointAccount, Scope
from loyalty.partner_selectors import (
    account_next_expiry,
    account_open_lots,
    partner_account,
    partner_accounts,
    partner_entries,
    points_account,
)
from loyalty.partners import PartnerCredentials, partner_entry_reverse, partner_member_enroll
from loyalty.services import points_credit, points_debit
from members.api.serializers import MemberCreateSerializer, MemberFieldsSerializer
from members.services import member_update


class PartnerView(APIView):
    """A partner endpoint: ``required_scopes`` maps each HTTP method to the scope it needs."""

    permission_classes = [ScopePermission]
    required_scopes: dict[str, str] = {}

    @property
    def credentials(self) -> PartnerCredentials:
        return self.request.auth

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # A misspelt filter would otherwise be ignored silently and return everything.
        unknown = sorted(set(request.query_params) - self.query_parameters())
        if unknown:
            raise ValidationError({name: [gettext("Not a parameter of this endpoint.")] for name in unknown})

    def query_parameters(self) -> set[str]:
        return set()

    def member_account(self, **member):
        return partner_account(program_id=self.credentials.program_id, **member)

    def points_account(self, **member):
        return points_account(program_id=self.credentials.program_id, **member)


class PartnerListView(PartnerView, GenericAPIView):
    def get(self, request, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(self.page_items(page), many=True).data)

    def page_items(self, page):
        return page

    def query_parameters(self) -> set[str]:
        filterset_class = getattr(self, "filterset_class", None)
        names = set(filterset_class.base_filters) if filterset_class else set()
        paginator = self.paginator
        for attribute in ("cursor_query_param", "page_size_query_param", "limit_query_param", "offset_query_param"):
            if getattr(paginator, attribute, None):
                names.add(getattr(paginator, attribute))
        return names


# --------------------------------------------------------------------------------------------------------------
# Members


@extend_schema_view(
    get=extend_schema(
        operation_id="members_list",
        summary=_("Look up members"),
        description=_(
            "Members enrolled in your program, newest first, by external id, email or phone (exact match after "
            "normalisation; phone in E.164). Needs `members:read`."
        ),
        responses={200: EnrolledMemberSerializer(many=True), **schema.error_responses(400, 403)},
        examples=[schema.response_example("members", [schema.MEMBER_EXAMPLE])],
    ),
    post=extend_schema(
        operation_id="members_enroll",
        summary=_("Enroll a member"),
        description=_("Create a member and enroll them in your program on its entry tier. Needs `members:write`."),
        request=MemberCreateSerializer,
        parameters=[schema.IDEMPOTENCY_KEY],
        responses={201: EnrolledMemberSerializer, **schema.error_responses(400, 403, 409, 422)},
        examples=[
            schema.request_example(
                "enroll",
                {
                    "external_id": "CARD-000123",
                    "email": "Aisha@Example.com",
                    "phone": "+971 50 123 4567",
                    "first_name": "Aisha",
                    "last_name": "Rahman",
                    "country": "AE",
                    "preferred_language": "ar",
                },
            ),
            schema.response_example("enrolled", schema.MEMBER_EXAMPLE, status_code=201),
        ],
    ),
)
class MemberListView(PartnerListView):
    required_scopes = {"GET": Scope.MEMBERS_READ, "POST": Scope.MEMBERS_WRITE}
    serializer_class = EnrolledMemberSerializer
    filterset_class = MemberFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request, no partner
            return PointAccount.objects.none()
        return partner_accounts(program_id=self.credentials.program_id)

    def page_items(self, page):
        return [enrolled_member(account) for account in page]

    def post(self, request):
        data = validated(MemberCreateSerializer, request.data)

        def perform():
            account = partner_member_enroll(program_id=self.credentials.program_id, **data)
            return status.HTTP_201_CREATED, represent(EnrolledMemberSerializer, enrolled_member(account))

        return idempotent_response(request, perform)


@extend_schema_view(
    get=extend_schema(
        operation_id="members_retrieve",
        summary=_("Get a member"),
        description=_("Needs `members:read`."),
        parameters=[schema.MEMBER_ID],
        responses={200: EnrolledMemberSerializer, **schema.error_responses(403, 404)},
        examples=[schema.response_example("member", schema.MEMBER_EXAMPLE)],
    ),
    patch=extend_schema(
        operation_id="members_update",
        summary=_("Update a member"),
        description=_("Change the attributes sent; the others stay. Needs `members:write`."),
        parameters=[schema.MEMBER_ID, schema.IDEMPOTENCY_KEY],
        request=MemberFieldsSerializer,
        responses={200: EnrolledMemberSerializer, **schema.error_responses(400, 403, 404, 422)},
        examples=[
            schema.request_example("new phone", {"phone": "+971501112233"}),
            schema.response_example("updated", {**schema.MEMBER_EXAMPLE, "phone": "+971501112233"}),
        ],
    ),
)
class MemberDetailView(PartnerView):
    required_scopes = {"GET": Scope.MEMBERS_READ, "PATCH": Scope.MEMBERS_WRITE}

    def get(self, request, member_id: int):
        return Response(represent(EnrolledMemberSerializer, enrolled_member(self.member_account(member_id=member_id))))

    def patch(self, request, member_id: int):
        serializer = MemberFieldsSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)

        def perform():
            account = self.member_account(member_id=member_id)
            member_update(member=account.member, **serializer.validated_data)
            return status.HTTP_200_OK, represent(EnrolledMemberSerializer, enrolled_member(account))

        return idempotent_response(request, perform)


@extend_schema_view(
    get=extend_schema(
        operation_id="members_balance",
        summary=_("Balance and tier"),
        description=_("Available and pending points, lifetime totals, tier, and the next expiry. Needs `points:read`."),
        parameters=[schema.MEMBER_ID],
        responses={200: BalanceDetailSerializer, **schema.error_responses(403, 404)},
        examples=[
            schema.response_example(
                "balance",
                {
                    "member_id": 4711,
                    "points_name": "points",
                    **schema.BALANCE_EXAMPLE,
                    "next_expiry": {"expires_at": "2027-12-01T00:00:00+04:00", "points": 375},
                },
            )
        ],
    )
)
class MemberBalanceView(PartnerView):
    required_scopes = {"GET": Scope.POINTS_READ}

    def get(self, request, member_id: int):
        account = self.member_account(member_id=member_id)
        context = {"next_expiry": account_next_expiry(account=account)}
        return Response(BalanceDetailSerializer(account, context=context).data)


@extend_schema_view(
    get=extend_schema(
        operation_id="members_lots",
        summary=_("Points lots with expiry"),
        description=_(
            "The member's lots that still hold points, soonest-expiring first; a pending lot is not spendable yet. "
            "Needs `points:read`."
        ),
        parameters=[schema.MEMBER_ID],
        responses={200: LotSerializer(many=True), **schema.error_responses(400, 403, 404)},
        examples=[
            schema.response_example(
                "lots",
                {
                    "count": 1,
                    "next": None,
                    "previous": None,
                    "results": [
                        {
                            "id": 55,
                            "points": 375,
                            "remaining": 375,
                            "state": "active",
                            "activates_at": "2026-11-23T10:15:00+04:00",
                            "expires_at": "2027-12-01T00:00:00+04:00",
                            "created_at": "2026-11-23T10:15:01+04:00",
                        }
                    ],
                },
            )
        ],
    )
)
class MemberLotsView(PartnerListView):
    required_scopes = {"GET": Scope.POINTS_READ}
    serializer_class = LotSerializer
    pagination_class = BoundedLimitOffsetPagination
    filter_backends = []

    def get_queryset(self):
        return account_open_lots(account=self.member_account(member_id=self.kwargs["member_id"]))


# --------------------------------------------------------------------------------------------------------------
# The partner's own ledger


@extend_schema_view(
    get=extend_schema(
        operation_id="transactions_list",
        summary=_("Your transactions"),
        description=_(
            "Ledger entries your partner account made, newest first, with cursor pagination; entries made by others "
            "are never listed. Needs `points:read`."
        ),
        responses={200: TransactionSerializer(many=True), **schema.error_responses(400, 403)},
        examples=[
            schema.response_example(
                "transactions", {"next": None, "previous": None, "results": [schema.TRANSACTION_EXAMPLE]}
            )
        ],
    )
)
class TransactionListView(PartnerListView):
    required_scopes = {"GET": Scope.POINTS_READ}
    serializer_class = TransactionSerializer
    filterset_class = TransactionFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request, no partner
            return LedgerEntry.objects.none()
        return partner_entries(partner_id=self.credentials.partner_id)


@extend_schema_view(
    get=extend_schema(
        operation_id="transactions_retrieve",
        summary=_("One of your transactions"),
        description=_("Needs `points:read`; another partner's transaction is not found."),
        parameters=[schema.TRANSACTION_ID],
        responses={200: TransactionSerializer, **schema.error_responses(403, 404)},
        examples=[schema.response_example("transaction", schema.TRANSACTION_EXAMPLE)],
    )
)
class TransactionDetailView(PartnerView, GenericAPIView):
    required_scopes = {"GET": Scope.POINTS_READ}
    serializer_class = TransactionSerializer
    lookup_url_kwarg = "transaction_id"

    def get_queryset(self):
        return partner_entries(partner_id=self.credentials.partner_id)

    def get(self, request, transaction_id: int):
        return Response(self.get_serializer(self.get_object()).data)


# --------------------------------------------------------------------------------------------------------------
# Point writes

_POINTS_RESULT_EXAMPLE = {"transaction": schema.TRANSACTION_EXAMPLE, "balance": schema.BALANCE_EXAMPLE}


class PointsWriteView(PartnerView):
    """Credit or debit points of a member named in the body."""

    serializer_class = PointsChangeSerializer

    def post(self, request):
        data = validated(self.serializer_class, request.data)

        def perform():
            account = self.points_account(
                member_id=data.get("member_id"), member_external_id=data.get("member_external_id")
            )
            entry = self.service(
                account=account,
                points=data["points"],
                source=self.credentials.source,
                external_reference=data.get("reference"),
                reason=data.get("reason", ""),
            )
            return status.HTTP_201_CREATED, points_result(entry, tier=account.tier)

        return idempotent_response(request, perform)


@extend_schema_view(
    post=extend_schema(
        operation_id="points_credit",
        summary=_("Credit points"),
        description=_(
            "Add points to a member outside a purchase (e.g. a partner promotion). They follow the program's "
            "pending and expiry policies. Needs `points:earn`."
        ),
        parameters=[schema.IDEMPOTENCY_KEY],
        responses={201: PointsResultSerializer, **schema.error_responses(400, 403, 404, 409, 422)},
        examples=[
            schema.request_example(
                "credit", {"member_id": 4711, "points": 200, "reference": "PROMO-77", "reason": "Welcome bonus"}
            ),
            schema.response_example("credited", _POINTS_RESULT_EXAMPLE, status_code=201),
        ],
    )
)
class PointsCreditView(PointsWriteView):
    required_scopes = {"POST": Scope.POINTS_EARN}
    service = staticmethod(points_credit)


@extend_schema_view(
    post=extend_schema(
        operation_id="points_redeem",
        summary=_("Redeem points"),
        description=_(
            "Spend a member's available points, soonest-expiring first. Refused with 422 `insufficient_points` when "
            "the balance does not cover them. Needs `points:redeem`."
        ),
        parameters=[schema.IDEMPOTENCY_KEY],
        responses={201: PointsResultSerializer, **schema.error_responses(400, 403, 404, 409, 422)},
        examples=[
            schema.request_example("redeem", {"member_id": 4711, "points": 500, "reference": "ORD-1002-REDEEM"}),
            schema.response_example(
                "redeemed",
                {
                    "transaction": {
                        **schema.TRANSACTION_EXAMPLE,
                        "kind": "redeem",
                        "points": -500,
                        "amount": None,
                        "reference": "ORD-1002-REDEEM",
                        "metadata": {},
                    },
                    "balance": {**schema.BALANCE_EXAMPLE, "available": 770, "lifetime_spent": 730},
                },
                status_code=201,
            ),
        ],
    )
)
class PointsRedeemView(PointsWriteView):
    required_scopes = {"POST": Scope.POINTS_REDEEM}
    service = staticmethod(points_debit)


@extend_schema_view(
    post=extend_schema(
        operation_id="points_reverse",
        summary=_("Reverse or refund a transaction"),
        description=_(
            "Reverse one of your own transactions by its reference (the order id of a purchase): in full, by a "
            "number of points, or by a refunded amount (points in proportion). Reversing a redemption gives the "
            "points back. Needs `points:reverse`."
        ),
        request=ReversalSerializer,
        parameters=[schema.IDEMPOTENCY_KEY],
        responses={201: PointsResultSerializer, **schema.error_responses(400, 403, 404, 409, 422)},
        examples=[
            schema.request_example("full refund", {"reference": "ORD-1001", "refund_reference": "RF-1001"}),
            schema.request_example("partial refund", {"reference": "ORD-1001", "amount": "100.00"}),
            schema.response_example(
                "reversed",
                {
                    "transaction": {
                        **schema.TRANSACTION_EXAMPLE,
                        "kind": "reverse",
                        "points": -150,
                        "amount": "-100.00",
                        "reverses": 918273,
                        "reference": None,
                        "metadata": {"refund_amount": "100.00"},
                    },
                    "balance": {**schema.BALANCE_EXAMPLE, "available": 1120, "lifetime_earned": 1350},
                },
                status_code=201,
            ),
        ],
    )
)
class PointsReverseView(PartnerView):
    required_scopes = {"POST": Scope.POINTS_REVERSE}

    def post(self, request):
        data = validated(ReversalSerializer, request.data)

        def perform():
            entry = partner_entry_reverse(partner_id=self.credentials.partner_id, **data)
            return status.HTTP_201_CREATED, points_result(entry)

        return idempotent_response(request, perform)
