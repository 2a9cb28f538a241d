"""Safe normalisation of member fields: anything ambiguous is rejected with the field named, never guessed."""

import re
import unicodedata

import phonenumbers

from config.errors import InvalidInput

# A pragmatic shape check (local@domain.tld); deliverability is not our business here.
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]{2,}$")


def clean_text(value: str | None, *, field: str, max_length: int) -> str:
    text = unicodedata.normalize("NFC", (value or "").strip())
    if len(text) > max_length:
        raise InvalidInput(f"{field} is longer than {max_length} characters.", field=field)
    if any(unicodedata.category(char) == "Cc" for char in text):
        raise InvalidInput(f"{field} contains control characters.", field=field)
    return text


def normalize_email(value: str | None, *, field: str = "email") -> str:
    email = clean_text(value, field=field, max_length=254).lower()
    if email and not _EMAIL_RE.match(email):
        raise InvalidInput(f"{field} '{email}' is not a valid email address.", field=field)
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
            f"{field} '{raw}' is not a phone number with a country code ({error}).", field=field
        ) from error
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput(f"{field} '{raw}' is not a valid phone number.", field=field)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_country(value: str | None, *, field: str = "country") -> str:
    code = clean_text(value, field=field, max_length=2).upper()
    if code and not (len(code) == 2 and code.isascii() and code.isalpha()):
        raise InvalidInput(f"{field} must be a two-letter ISO country code.", field=field)
    return code
