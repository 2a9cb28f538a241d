"""Tiers are saved through ``tiers_save``: the program's tiers are checked as a whole and the program's version
moves, so every process prices its next credit with them."""

from decimal import Decimal

import pytest
import tablib
from django.urls import reverse

from config.errors import InvalidInput
from loyalty.models import Program, Tier
from loyalty.resources import TierResource
from loyalty.services import tier_assign, tiers_save
from tests.factories import AccountFactory


def _tier(rank: int, threshold: str, **fields) -> Tier:
    return Tier(code=f"t{rank}", name=f"T{rank}", rank=rank, threshold=Decimal(threshold), **fields)


def _thresholds(program: Program) -> list[tuple[int, Decimal]]:
    return list(Tier.objects.filter(program=program).order_by("rank").values_list("rank", "threshold"))


def test_tiers_are_created_together_and_move_the_program_version(program):
    before = program.updated_at

    tiers_save(program=program, tiers=[_tier(0, "0"), _tier(1, "1000"), _tier(2, "5000")])

    assert _thresholds(program) == [(0, 0), (1, 1000), (2, 5000)]
    program.refresh_from_db()
    assert program.updated_at > before


def test_the_entry_tier_needs_no_threshold(program):
    with pytest.raises(InvalidInput) as error:
        tiers_save(program=program, tiers=[_tier(0, "100")])

    assert error.value.field == "threshold"
    assert "entry tier" in error.value.message
    assert _thresholds(program) == []


def test_a_higher_rank_measured_the_same_way_needs_a_higher_threshold(program):
    tiers_save(program=program, tiers=[_tier(0, "0"), _tier(1, "1000")])

    with pytest.raises(InvalidInput) as error:
        tiers_save(program=program, tiers=[_tier(2, "1000")])

    assert error.value.field == "threshold"
    assert "T1 (rank 1)" in error.value.message
    # Measured by money spent instead, a lower number is no contradiction.
    tiers_save(program=program, tiers=[_tier(2, "500", metric=Tier.Metric.SPEND)])
    assert _thresholds(program) == [(0, 0), (1, 1000), (2, 500)]


def test_thresholds_raised_together_are_checked_as_they_end_up(program):
    gold, platinum = tiers_save(program=program, tiers=[_tier(0, "0"), _tier(1, "500"), _tier(2, "2000")])[1:]
    gold.threshold, platinum.threshold = Decimal("3000"), Decimal("6000")

    # Saved one by one, gold at 3000 would first sit above platinum at 2000.
    tiers_save(program=program, tiers=[gold, platinum])

    assert _thresholds(program) == [(0, 0), (1, 3000), (2, 6000)]


def test_a_rank_or_code_already_used_is_refused(program):
    tiers_save(program=program, tiers=[_tier(0, "0"), _tier(1, "1000")])

    with pytest.raises(InvalidInput) as error:
        tiers_save(program=program, tiers=[Tier(code="other", name="Other", rank=1, threshold=Decimal("2000"))])

    assert error.value.field == "rank"
    assert Tier.objects.filter(program=program).count() == 2


def test_a_tier_members_hold_cannot_be_deleted(program):
    _entry, gold = tiers_save(program=program, tiers=[_tier(0, "0"), _tier(1, "1000")])
    tier_assign(account=AccountFactory(program=program), tier=gold, user=None, note="Welcome upgrade")

    with pytest.raises(InvalidInput) as error:
        tiers_save(program=program, deleted=[gold])

    assert error.value.field == "tiers"
    assert Tier.objects.filter(pk=gold.pk).exists()


def test_deleting_the_entry_tier_is_refused_when_the_next_one_has_a_threshold(program):
    entry, _gold = tiers_save(program=program, tiers=[_tier(0, "0"), _tier(1, "1000")])

    with pytest.raises(InvalidInput) as error:
        tiers_save(program=program, deleted=[entry])

    assert error.value.field == "threshold"
    assert Tier.objects.filter(pk=entry.pk).exists()


def test_tier_import_rows_are_checked_like_admin_edits(program):
    rows = tablib.Dataset(headers=["program", "code", "name", "rank", "threshold"])
    rows.append([program.code, "base", "Base", 0, "0"])
    rows.append([program.code, "gold", "Gold", 1, "0"])

    result = TierResource().import_data(rows, dry_run=False)

    assert result.has_validation_errors()
    [invalid] = result.invalid_rows
    assert "threshold" in invalid.field_specific_errors
    assert _thresholds(program) == [(0, 0)]


def test_the_tier_admin_shows_the_rule_on_the_form_and_saves_nothing(program, admin_client):
    _entry, gold = tiers_save(program=program, tiers=[_tier(0, "0"), _tier(1, "1000")])
    url = reverse("admin:loyalty_tier_change", args=[gold.pk])
    form = {
        "program": program.pk,
        "code": gold.code,
        "name": gold.name,
        "rank": 1,
        "metric": gold.metric,
        "window": gold.window,
        "window_months": "",
        "threshold": "0",
        "earn_multiplier": "1",
        "downgrade_grace_days": "0",
    }

    response = admin_client.post(url, form)

    assert response.status_code == 200
    assert "needs a higher threshold" in response.context["adminform"].form.errors["threshold"][0]
    assert _thresholds(program) == [(0, 0), (1, 1000)]
    form["threshold"] = "1500"
    assert admin_client.post(url, form).status_code == 302
    assert _thresholds(program) == [(0, 0), (1, 1500)]


def test_the_tier_admin_refuses_a_deletion_on_the_confirmation_page(program, admin_client):
    entry, _gold = tiers_save(program=program, tiers=[_tier(0, "0"), _tier(1, "1000")])
    url = reverse("admin:loyalty_tier_delete", args=[entry.pk])

    response = admin_client.post(url, {"post": "yes"})

    assert response.status_code == 200
    assert "entry tier" in response.content.decode()
    assert Tier.objects.filter(pk=entry.pk).exists()
