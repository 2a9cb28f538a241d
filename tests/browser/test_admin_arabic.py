"""An operator logs in, switches the console to Arabic and reads a member's balance."""

import pytest
from django.urls import reverse

from loyalty.services import Source, points_credit
from tests.browser.conftest import CHROMIUM
from tests.factories import AccountFactory, ProgramFactory

pytestmark = [pytest.mark.browser, pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")]

PASSWORD = "a-long-test-password-1"


@pytest.fixture
def member_account(db):
    program = ProgramFactory(code="demo", name="Gulf Rewards", points_name="Gulf Points")
    account = AccountFactory(program=program, member__first_name="فاطمة", member__last_name="المنصوري")
    points_credit(account=account, points=1234, source=Source.system("test"))
    return account


def test_operator_switches_to_arabic_and_sees_a_member_balance(
    page, live_server, django_user_model, member_account, screenshots
):
    django_user_model.objects.create_superuser(username="operator", email="", password=PASSWORD)

    page.goto(live_server.url + reverse("admin:login"))
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(live_server.url + reverse("admin:index"))
    assert page.evaluate("document.documentElement.dir") == "ltr"

    page.select_option("#language-select", "ar")
    page.click("#language-switch button[type=submit]")
    page.wait_for_load_state()

    assert page.evaluate("document.documentElement.dir") == "rtl"
    assert page.evaluate("document.documentElement.lang") == "ar"
    assert page.locator("#site-name").inner_text() == "مدير برنامج الولاء"
    page.screenshot(path=str(screenshots / "admin-index-ar.png"), full_page=True)
    assert (screenshots / "admin-index-ar.png").stat().st_size > 10_000

    member = member_account.member
    page.goto(live_server.url + reverse("admin:members_member_change", args=[member.pk]))
    balance = page.locator(f"#account-{member_account.pk} .field-available")

    assert page.evaluate("document.documentElement.dir") == "rtl"
    assert balance.inner_text().split() == ["1234", "Gulf", "Points"]
    assert page.get_by_role("columnheader", name="المتاح").count() == 1  # "Available"
    page.screenshot(path=str(screenshots / "admin-member-ar.png"), full_page=True)
