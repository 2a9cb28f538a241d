"""The operator's choices for one import, validated once, stored on the batch as plain JSON."""

import codecs
from dataclasses import asdict, dataclass, field, fields

import phonenumbers
from django.utils.translation import gettext as _

from config.errors import InvalidInput
from loyalty.legacy_import.columns import IGNORE, fields_for
from loyalty.models import ImportKind

DATE_FORMATS = {
    "iso": "YYYY-MM-DD",
    "dmy": "DD/MM/YYYY",
    "mdy": "MM/DD/YYYY",
}
# Points are whole numbers: a separator may only group digits by three; a decimal mark is always rejected.
THOUSANDS = {
    "none": "",
    "comma": ",",
    "dot": ".",
    "space": " \u00a0\u202f",
    "apostrophe": "'\u2019",
}
MEMBER_MODES = ("match", "update")
DELIMITERS = (",", ";", "\t", "|")
MAX_POINTS_CAP = 1_000_000_000
DEFAULT_CHUNK_ROWS = 100_000


@dataclass
class ImportOptions:
    kind: str = ImportKind.BALANCES
    encoding: str = ""
    delimiter: str = ""
    date_format: str = "iso"
    thousands: str = "none"
    member_mode: str = "match"
    max_points: int = 1_000_000
    default_region: str = ""
    mapping: dict[str, str] = field(default_factory=dict)
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    workers: int = 2

    @classmethod
    def from_dict(cls, data: dict) -> "ImportOptions":
        known = {item.name for item in fields(cls)}
        unknown = set(data) - known
        if unknown:
            name = sorted(unknown)[0]
            raise InvalidInput(_("%(name)s is not an import option.") % {"name": name}, field=name)
        return cls(**data).validated()

    def as_dict(self) -> dict:
        return asdict(self)

    def validated(self) -> "ImportOptions":
        if self.kind not in ImportKind.values:
            raise InvalidInput(_("Unknown file type."), field="kind")
        if self.encoding:
            try:
                self.encoding = codecs.lookup(self.encoding).name
            except LookupError as error:
                raise InvalidInput(
                    _("%(encoding)s is not a known encoding.") % {"encoding": self.encoding}, field="encoding"
                ) from error
        if self.delimiter == "\\t":
            self.delimiter = "\t"
        if self.delimiter and self.delimiter not in DELIMITERS:
            raise InvalidInput(_("The delimiter must be one of , ; | or a tab."), field="delimiter")
        if self.date_format not in DATE_FORMATS:
            raise InvalidInput(_("Unknown date format."), field="date_format")
        if self.thousands not in THOUSANDS:
            raise InvalidInput(_("Unknown thousands separator."), field="thousands")
        if self.member_mode not in MEMBER_MODES:
            raise InvalidInput(_("Existing members are either matched or updated."), field="member_mode")
        if isinstance(self.max_points, bool) or not isinstance(self.max_points, int):
            raise InvalidInput(_("The points cap must be a whole number."), field="max_points")
        if not 0 < self.max_points <= MAX_POINTS_CAP:
            raise InvalidInput(
                _("The points cap must be between 1 and %(cap)s.") % {"cap": MAX_POINTS_CAP}, field="max_points"
            )
        self.default_region = (self.default_region or "").strip().upper()
        if self.default_region and self.default_region not in phonenumbers.SUPPORTED_REGIONS:
            raise InvalidInput(_("The default phone region must be a two-letter country code."), field="default_region")
        if not isinstance(self.chunk_rows, int) or not 1_000 <= self.chunk_rows <= 1_000_000:
            raise InvalidInput(_("Chunks hold between 1,000 and 1,000,000 rows."), field="chunk_rows")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or not 1 <= self.workers <= 8:
            raise InvalidInput(_("Between 1 and 8 connections write a commit."), field="workers")
        names = {item.name for item in fields_for(self.kind)} | {IGNORE}
        for header, target in self.mapping.items():
            if target not in names:
                raise InvalidInput(
                    _("Column '%(header)s' cannot be mapped to '%(field)s'.") % {"header": header, "field": target},
                    field="mapping",
                )
        return self
