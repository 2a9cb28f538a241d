from loyalty.selectors import reconcile
from loyalty.services import points_credit, points_debit


def test_credit_then_debit_leaves_the_difference(account, pos):
    points_credit(account=account, points=100, source=pos)
    points_debit(account=account, points=30, source=pos)
    account.refresh_from_db()
    assert account.available == 70
    assert reconcile() == []
