"""The fields a legacy file can carry, the header names they go by, and turning a header row into a mapping."""

import unicodedata
from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from loyalty.models import ImportKind

IGNORE = "ignore"


@dataclass(frozen=True)
class Field:
    name: str
    label: object
    required: bool = False
    aliases: tuple[str, ...] = ()


_EXTERNAL_ID = Field(
    "external_id",
    gettext_lazy("Member external id"),
    required=True,
    aliases=(
        "memberid", "member", "memberno", "membernumber", "membercode", "customerid", "customerno",
        "customernumber", "customer", "custno", "cardnumber", "cardno", "card", "loyaltyid", "loyaltynumber",
        "loyaltycard", "externalid", "accountnumber", "accountno", "clientid", "clientno",
        "رقمالعضو", "رقمالبطاقة", "رقمالعميل", "noahli", "nomborahli", "nokad",
    ),
)  # fmt: skip
_EXPIRES = Field(
    "expires_at",
    gettext_lazy("Expiry date"),
    aliases=("expiry", "expires", "expirydate", "expirationdate", "expiresat", "expireson", "validuntil",
             "pointsexpiry", "تاريخالانتهاء", "tarikhluput"),
)  # fmt: skip

BALANCE_FIELDS = (
    _EXTERNAL_ID,
    Field(
        "points",
        gettext_lazy("Points balance"),
        required=True,
        aliases=(
            "points",
            "balance",
            "pointsbalance",
            "pointbalance",
            "currentbalance",
            "availablepoints",
            "pts",
            "openingbalance",
            "النقاط",
            "الرصيد",
            "mata",
            "mataganjaran",
            "baki",
        ),
    ),
    Field(
        "balance_date",
        gettext_lazy("Balance date"),
        aliases=(
            "date",
            "balancedate",
            "asof",
            "asofdate",
            "lastactivity",
            "lastactivitydate",
            "lasttransactiondate",
            "effectivedate",
            "التاريخ",
            "tarikh",
        ),
    ),
    _EXPIRES,
    Field("email", gettext_lazy("Email"), aliases=("email", "emailaddress", "mail", "البريدالإلكتروني", "emel")),
    Field(
        "phone",
        gettext_lazy("Phone"),
        aliases=(
            "phone",
            "mobile",
            "mobilenumber",
            "mobileno",
            "phonenumber",
            "phoneno",
            "tel",
            "telephone",
            "cell",
            "msisdn",
            "الهاتف",
            "الجوال",
            "telefon",
            "nombortelefon",
        ),
    ),
    Field("first_name", gettext_lazy("First name"), aliases=("firstname", "givenname", "forename", "الاسمالأول")),
    Field("last_name", gettext_lazy("Last name"), aliases=("lastname", "surname", "familyname", "اسمالعائلة")),
    Field(
        "birth_date",
        gettext_lazy("Birth date"),
        aliases=("birthdate", "dateofbirth", "dob", "birthday", "تاريخالميلاد", "tarikhlahir"),
    ),
    Field("country", gettext_lazy("Country"), aliases=("country", "countrycode", "الدولة", "negara")),
    Field("language", gettext_lazy("Language"), aliases=("language", "lang", "preferredlanguage", "locale", "اللغة")),
    Field("status", gettext_lazy("Status"), aliases=("status", "memberstatus", "الحالة")),
    Field("tier", gettext_lazy("Tier"), aliases=("tier", "tiername", "tiercode", "level", "membershiplevel", "الفئة")),
)

HISTORY_FIELDS = (
    _EXTERNAL_ID,
    Field(
        "date",
        gettext_lazy("Transaction date"),
        required=True,
        aliases=("date", "transactiondate", "txndate", "trandate", "posteddate", "effectivedate", "التاريخ", "tarikh"),
    ),
    Field(
        "reference",
        gettext_lazy("Reference"),
        required=True,
        aliases=(
            "reference",
            "ref",
            "referenceno",
            "transactionid",
            "transactionno",
            "txnid",
            "receipt",
            "receiptno",
            "invoice",
            "invoiceno",
            "documentno",
            "المرجع",
            "rujukan",
        ),
    ),
    Field("kind", gettext_lazy("Type (earn / spend)"), aliases=("type", "kind", "transactiontype", "txntype")),
    Field("points", gettext_lazy("Points"), required=True, aliases=("points", "pts", "النقاط", "mata")),
    _EXPIRES,
    Field("amount", gettext_lazy("Spend amount"), aliases=("amount", "spend", "spendamount", "value", "total")),
    Field(
        "description",
        gettext_lazy("Description"),
        aliases=("description", "reason", "note", "narration", "remarks", "الوصف"),
    ),
)

FIELDS = {ImportKind.BALANCES: BALANCE_FIELDS, ImportKind.HISTORY: HISTORY_FIELDS}


def fields_for(kind: str) -> tuple[Field, ...]:
    return FIELDS[kind]


def header_key(header: str) -> str:
    """Compare headers by their letters and digits only: 'Member ID', 'member_id' and 'MEMBER-ID' are one key."""
    text = unicodedata.normalize("NFKC", header).casefold()
    return "".join(char for char in text if char.isalnum())


@dataclass
class ResolvedColumns:
    """Which file column feeds which field; what could not be decided is listed, never guessed."""

    positions: dict[str, int]
    headers: list[str]
    unknown: list[str]
    problems: list[str]
    ignored: list[str]

    def as_mapping(self) -> dict[str, str]:
        mapping = {self.headers[index]: field for field, index in self.positions.items()}
        mapping.update({header: IGNORE for header in self.ignored})
        return mapping


def resolve_columns(kind: str, headers: list[str], mapping: dict[str, str]) -> ResolvedColumns:
    """Map each header to a field: the operator's mapping first, then the aliases."""
    fields = {field.name: field for field in fields_for(kind)}
    alias_of = {}
    for field in fields.values():
        for alias in (field.name, *field.aliases):
            alias_of.setdefault(header_key(alias), field.name)
    chosen = {header_key(header): target for header, target in mapping.items()}
    positions: dict[str, int] = {}
    unknown, problems, ignored = [], [], []
    for index, header in enumerate(headers):
        key = header_key(header)
        target = chosen.get(key, alias_of.get(key))
        if target == IGNORE or (target is None and key == ""):
            ignored.append(header)
            continue
        if target is None:
            unknown.append(header)
            continue
        if target not in fields:
            problems.append(_("Column '%(header)s' is mapped to '%(field)s', which is not a field of this file type.")
                            % {"header": header, "field": target})  # fmt: skip
            continue
        if target in positions:
            problems.append(
                _("Columns '%(first)s' and '%(second)s' both map to %(field)s; map one of them to 'ignore'.")
                % {"first": headers[positions[target]], "second": header, "field": fields[target].label}
            )
            continue
        positions[target] = index
    for field in fields.values():
        if field.required and field.name not in positions:
            problems.append(_("No column for the required field %(field)s.") % {"field": field.label})
    return ResolvedColumns(positions=positions, headers=headers, unknown=unknown, problems=problems, ignored=ignored)
