from loyalty.models import Program
from loyalty.services import points_debit, program_save
from tests.factories import AccountFactory, ProgramFactory


def _change_form_data(program: Program, **changes) -> dict:
    data = {
        field.name: getattr(program, field.attname)
        for field in Program._meta.concrete_fields
        if field.editable and field.name != "id" and getattr(program, field.attname) is not None
    }
    return {**data, **changes, "tiers-TOTAL_FORMS": 0, "tiers-INITIAL_FORMS": 0}


def test_program_form_refuses_a_policy_that_existing_balances_break(admin_client, pos):
    program = program_save(program=ProgramFactory.build(code="neg", negative_balance_policy="allow"))
    account = AccountFactory(program=program)
    points_debit(account=account, points=5, source=pos)

    response = admin_client.post(
        f"/admin/loyalty/program/{program.pk}/change/", _change_form_data(program, negative_balance_policy="forbid")
    )

    assert response.status_code == 200
    assert "1 accounts are below zero" in response.content.decode()
    account.refresh_from_db()
    assert account.negative_balance_policy == "allow"


def test_program_form_saves_through_the_service(admin_client):
    program = program_save(program=ProgramFactory.build(code="pos", negative_balance_policy="forbid"))
    account = AccountFactory(program=program)

    response = admin_client.post(
        f"/admin/loyalty/program/{program.pk}/change/", _change_form_data(program, negative_balance_policy="allow")
    )

    assert response.status_code == 302
    account.refresh_from_db()
    assert account.negative_balance_policy == "allow"
