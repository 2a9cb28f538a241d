"""Create the first superuser once, and print how to log in every time (used by ``make run``)."""

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils.translation import gettext as _

USERNAME = "admin"


def password_file() -> Path:
    return Path(settings.BASE_DIR) / ".data" / "admin-password"


def _write_secret(path: Path, secret: str) -> None:
    """Write ``secret`` readable by the owner only (the file is created with mode 600, never wider)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secret + "\n")
    path.chmod(0o600)


class Command(BaseCommand):
    help = "Create the superuser 'admin' with a random password (once) and print the admin address and login."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Host name shown in the admin address.")
        parser.add_argument("--port", default="8000", help="Port shown in the admin address.")

    def handle(self, *args, host: str, port: str, **options) -> None:
        path = password_file()
        stored = path.read_text().strip() if path.exists() else ""
        user_model = get_user_model()
        with transaction.atomic():
            user = user_model.objects.select_for_update().filter(username=USERNAME).first()
            if user is None:
                password = stored or secrets.token_urlsafe(12)
                user_model.objects.create_superuser(username=USERNAME, email="", password=password)
                self.stdout.write(self.style.SUCCESS(_("Created the superuser %(name)s.") % {"name": USERNAME}))
            elif not stored:
                # The user exists but its password was never stored here: give it a new one that is.
                password = secrets.token_urlsafe(12)
                user.set_password(password)
                user.save(update_fields=["password"])
                message = _("The superuser %(name)s had no stored password; it has a new one.")
                self.stdout.write(message % {"name": USERNAME})
            else:
                password = stored
            if password != stored:
                _write_secret(path, password)
        self.stdout.write(_("Admin:    http://%(host)s:%(port)s/admin/") % {"host": host, "port": port})
        self.stdout.write(_("Username: %(name)s") % {"name": USERNAME})
        if user is None or user.check_password(password):
            self.stdout.write(_("Password: %(password)s") % {"password": password})
        else:
            self.stdout.write(
                self.style.WARNING(_("Password: changed since it was stored in %(path)s.") % {"path": path.name})
            )
