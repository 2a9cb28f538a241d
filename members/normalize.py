"""Safe normalisation of member fields: anything ambiguous is rejected with the field named, never guessed."""

import re
import unicodedata

import phonenumbers
from django.utils.translation import gettext as _

from config.errors import InvalidInput

# A pragmatic shape check (local@domain.tld); deliverability is not our business here.
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]{2,}$")


def clean_text(value: str | None, *, field: str, max_length: int) -> str:
    text = unicodedata.normalize("NFC", (value or "").strip())
    if len(text) > max_length:
        raise InvalidInput(
            _("%(field)s is longer than %(length)s characters.") % {"field": field, "length": max_length}, field=field
        )
    if any(unicodedata.category(char) == "Cc" for char in text):
        raise InvalidInput(_("%(field)s contains control characters.") % {"field": field}, field=field)
    return text


def normalize_email(value: str | None, *, field: str = "email") -> str:
    email = clean_text(value, field=field, max_length=254).lower()
    if email and not _EMAIL_RE.match(email):
        raise InvalidInput(
            _("%(field)s '%(email)s' is not a valid email address.") % {"field": field, "email": email}, field=field
        )
    return email


def normalize_phone(value: str | None, *, default_region: str | None = None, field: str = "phone") -> str:
    """Return the number in E.164. A number without a country code needs ``default_region``."""
    raw = clean_text(value, field=field, max_length=32)
    if not raw:
        return ""
    try:
        number = phonenumbers.parse(raw, default_region or None)
    except phonenumbers.NumberParseException as error:
        raise InvalidInput(
            _("%(field)s '%(raw)s' is not a phone number with a country code (%(error)s).")
            % {"field": field, "raw": raw, "error": error},
            field=field,
        ) from error
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput(
            _("%(field)s '%(raw)s' is not a valid phone number.") % {"field": field, "raw": raw}, field=field
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_country(value: str | None, *, field: str = "country") -> str:
    code = clean_text(value, field=field, max_length=2).upper()
    if code and not (len(code) == 2 and code.isascii() and code.isalpha()):
        raise InvalidInput(_("%(field)s must be a two-letter ISO country code.") % {"field": field}, field=field)
    return code
