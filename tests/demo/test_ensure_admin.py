"""``ensure_admin`` creates the first superuser once and prints how to log in on every run."""

import re
import stat
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command


@pytest.fixture
def project_dir(settings, tmp_path):
    settings.BASE_DIR = tmp_path
    return tmp_path


def _run(*args: str) -> str:
    out = StringIO()
    call_command("ensure_admin", *args, stdout=out)
    return out.getvalue()


def _printed_password(output: str) -> str:
    return re.search(r"^Password: (\S+)$", output, re.M).group(1)


def test_creates_a_superuser_whose_password_only_the_owner_can_read(db, project_dir):
    output = _run("--port", "8765")

    password_file = project_dir / ".data" / "admin-password"
    password = _printed_password(output)
    assert "http://127.0.0.1:8765/admin/" in output
    assert "Username: admin" in output
    assert password_file.read_text().strip() == password
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    assert admin.check_password(password)


def test_a_second_run_prints_the_same_login_and_creates_nothing(db, project_dir):
    first = _printed_password(_run())

    output = _run()

    assert _printed_password(output) == first
    assert "Created" not in output
    assert get_user_model().objects.filter(username="admin").count() == 1


def test_a_password_changed_since_is_not_printed(db, project_dir):
    _run()
    admin = get_user_model().objects.get(username="admin")
    admin.set_password("changed-by-the-operator-1")
    admin.save()

    output = _run()

    assert "Password: changed since" in output
    assert "changed-by-the-operator-1" not in output


def test_an_existing_admin_without_a_stored_password_gets_a_new_one(db, project_dir):
    get_user_model().objects.create_superuser(username="admin", email="", password="unknown-to-us-1")

    password = _printed_password(_run())

    assert get_user_model().objects.get(username="admin").check_password(password)
    assert (project_dir / ".data" / "admin-password").read_text().strip() == password
