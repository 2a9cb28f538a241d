from django.urls import path, register_converter

from loyalty.api import views


class IdConverter:
    """A database id: digits that fit a bigint, so an absurd id is a 404, never a database error."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")

urlpatterns = [
    path("members", views.MemberListView.as_view(), name="members"),
    path("members/<id:member_id>", views.MemberDetailView.as_view(), name="member"),
    path("members/<id:member_id>/balance", views.MemberBalanceView.as_view(), name="member-balance"),
    path("members/<id:member_id>/lots", views.MemberLotsView.as_view(), name="member-lots"),
    path("transactions", views.TransactionListView.as_view(), name="transactions"),
    path("transactions/<id:transaction_id>", views.TransactionDetailView.as_view(), name="transaction"),
    path("points/credits", views.PointsCreditView.as_view(), name="points-credit"),
    path("points/redemptions", views.PointsRedeemView.as_view(), name="points-redeem"),
    path("points/reversals", views.PointsReverseView.as_view(), name="points-reverse"),
]
