"""``load_demo`` writes a believable program through the services, once, and leaves the ledger reconciled."""

import datetime
import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.utils import timezone

from loyalty.demo import demo_load
from loyalty.models import LedgerEntry, PointAccount, PointLot, Program, TierChange
from loyalty.selectors import reconcile
from members.models import Member

ARABIC_LETTER = re.compile(r"[\u0600-\u06FF]")


def _load(members: int = 60) -> str:
    out = StringIO()
    call_command("load_demo", members=members, stdout=out)
    return out.getvalue()


def test_demo_loads_a_reconciled_program_with_six_months_of_history(db):
    output = _load()

    assert "Loaded the demo program: 60 members" in output
    program = Program.objects.get(code="demo")
    assert program.name == "Gulf Rewards"
    assert program.currency == "AED"
    assert program.pending_days == 14
    assert list(program.tiers.order_by("rank").values_list("name", flat=True)) == ["Silver", "Gold", "Platinum"]
    assert PointAccount.objects.filter(program=program).count() == Member.objects.count() == 60
    assert reconcile() == []

    entries = LedgerEntry.objects.filter(account__program=program)
    kinds = set(entries.values_list("kind", flat=True))
    assert {"earn", "redeem", "reverse", "expire"} <= kinds
    now = timezone.now()
    oldest = entries.earliest("effective_at").effective_at
    assert now - datetime.timedelta(days=190) < oldest < now - datetime.timedelta(days=150)
    assert entries.filter(kind="earn", spend_amount__gt=0).count() > 100
    assert Member.objects.filter(status=Member.Status.BLOCKED).exclude(blocked_reason="").exists()


def test_demo_has_pending_points_points_about_to_expire_and_members_above_the_entry_tier(db):
    _load()
    now = timezone.now()
    lots = PointLot.objects.filter(account__program__code="demo", remaining__gt=0)

    assert lots.filter(activated_at__isnull=True, activates_at__gt=now).exists()
    assert lots.filter(expires_at__gt=now, expires_at__lte=now + datetime.timedelta(days=30)).exists()
    assert PointAccount.objects.filter(tier__rank__gt=0).exists()
    assert TierChange.objects.filter(reason=TierChange.Reason.UPGRADE).exists()


def test_demo_members_have_arabic_malay_and_latin_names_and_gulf_or_asian_mobiles(db):
    _load()
    members = list(Member.objects.all())

    assert any(ARABIC_LETTER.search(member.first_name) for member in members)
    assert any(member.last_name.startswith(("bin ", "binti ")) for member in members)
    assert {member.country for member in members} == {"AE", "SA", "MY", "SG"}
    assert {member.preferred_language for member in members} == {"en", "ar", "ms"}
    phones = [member.phone for member in members if member.phone]
    assert phones
    assert all(phone.startswith(("+9715", "+9665", "+601", "+658", "+659")) for phone in phones)


def test_a_member_count_below_one_is_refused(db):
    with pytest.raises(CommandError, match="--members"):
        call_command("load_demo", members=0)

    assert not Program.objects.filter(code="demo").exists()


def test_a_second_load_changes_nothing_and_says_so(db):
    _load(members=20)
    entries = LedgerEntry.objects.count()

    output = _load(members=20)

    assert "already loaded" in output
    assert LedgerEntry.objects.count() == entries
    assert Member.objects.count() == 20


def test_the_same_seed_gives_the_same_demo(db):
    def load_and_undo() -> list[tuple]:
        with transaction.atomic():
            demo_load(members=15, seed=7)
            rows = list(
                PointAccount.objects.order_by("member__external_id").values_list(
                    "member__external_id", "member__first_name", "member__phone", "available", "pending", "tier__code"
                )
            )
            transaction.set_rollback(True)
        return rows

    first = load_and_undo()

    assert len(first) == 15
    assert load_and_undo() == first
