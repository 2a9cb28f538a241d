"""Reading legacy files: sniffing encoding, delimiter and line ends, then streaming decoded CSV records.

Decoding is strict and per physical line: a line with bytes that are not text in the chosen encoding is
reported (and its row rejected) instead of being stored with replacement characters or as mojibake. The whole
file is never held in memory; only a block of it and the current record.
"""

import codecs
import csv
import functools
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import charset_normalizer
import phonenumbers
from django.utils.translation import gettext as _

from config.errors import InvalidInput

BLOCK_BYTES = 1 << 20
SAMPLE_LINES = 200
DETECTION_SAMPLE_BYTES = 256 * 1024
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_DELIMITERS = (",", ";", "\t", "|")


Opener = Callable[[], BinaryIO]


class UnreadableFile(InvalidInput):
    code = "unreadable_file"


@dataclass
class Sniffed:
    encoding: str
    encoding_alternatives: list[str]
    delimiter: str
    newline: str
    headers: list[str]
    sample: list[list[str]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "encoding": self.encoding,
            "encoding_alternatives": self.encoding_alternatives,
            "delimiter": self.delimiter,
            "newline": self.newline,
            "headers": self.headers,
            "sample": self.sample,
        }


def _is_utf8(opener: Opener) -> tuple[bool, bytes]:
    """Whether the whole file is UTF-8 (streamed); if not, a sample of the lines that are not, for detection."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with opener() as handle:
        while block := handle.read(BLOCK_BYTES):
            try:
                decoder.decode(block)
            except UnicodeDecodeError:
                break
        else:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                pass
            else:
                return True, b""
    sample = bytearray()
    with opener() as handle:
        for raw in handle:
            if not raw.isascii():
                sample += raw
                if len(sample) >= DETECTION_SAMPLE_BYTES:
                    break
    return False, bytes(sample)


def _block_lines(handle: BinaryIO) -> Iterator[bytes]:
    tail = b""
    while block := handle.read(BLOCK_BYTES):
        lines = (tail + block).split(b"\n")
        tail = lines.pop()
        yield from lines
    if tail:
        yield tail


def detect_encoding(opener: Opener) -> tuple[str, list[str]]:
    """The file's encoding (a BOM wins, then strict UTF-8, then charset detection) and other candidates."""
    with opener() as handle:
        start = handle.read(4)
    for bom, name in _BOMS:
        if start.startswith(bom):
            return name, []
    utf8, sample = _is_utf8(opener)
    if utf8:
        return "utf-8", []
    matches = [match.encoding for match in charset_normalizer.from_bytes(sample)]
    if not matches:
        raise UnreadableFile(_("The file's encoding could not be detected; choose it by hand."), field="encoding")
    return codecs.lookup(matches[0]).name, [codecs.lookup(name).name for name in matches[1:4]]


def _detect_newline(head: bytes) -> str:
    if b"\n" in head or b"\r" not in head:
        return "\n"
    return "\r"


def _detect_delimiter(lines: list[str]) -> str:
    """The delimiter that splits the first lines into the same number (> 1) of fields most consistently."""
    best, best_score = ",", (-1, -1)
    for delimiter in _DELIMITERS:
        counts = [len(row) for row in csv.reader(lines, delimiter=delimiter) if row]
        if not counts or counts[0] < 2:
            continue
        consistent = sum(1 for count in counts if count == counts[0])
        score = (consistent, counts[0])
        if score > best_score:
            best, best_score = delimiter, score
    return best


def sniff(opener: Opener, *, encoding: str = "", delimiter: str = "") -> Sniffed:
    """Work out how to read the file; the operator's choices, when given, win over detection."""
    alternatives: list[str] = []
    if not encoding:
        encoding, alternatives = detect_encoding(opener)
    with opener() as handle:
        head = handle.read(BLOCK_BYTES)
    newline = _detect_newline(head)
    reader = LegacyReader(opener, encoding=encoding, delimiter=delimiter or ",", newline=newline)
    lines = []
    for _number, line in reader.lines():
        lines.append(line)
        if len(lines) >= SAMPLE_LINES:
            break
    if not lines:
        raise UnreadableFile(_("The file is empty."), field="file")
    delimiter = delimiter or _detect_delimiter(lines)
    rows = [row for row in csv.reader(lines, delimiter=delimiter) if any(value.strip() for value in row)]
    if not rows:
        raise UnreadableFile(_("The file has no header row."), field="file")
    return Sniffed(
        encoding=encoding,
        encoding_alternatives=alternatives,
        delimiter=delimiter,
        newline=newline,
        headers=[header.strip() for header in rows[0]],
        sample=rows[1:6],
    )


@dataclass
class Record:
    seq: int
    line: int
    values: list[str]
    decode_error: str = ""


class LegacyReader:
    """Streams a legacy file as decoded lines and CSV records, remembering which lines failed to decode."""

    def __init__(self, opener: Opener, *, encoding: str, delimiter: str, newline: str = "\n"):
        self.opener = opener
        self.encoding = codecs.lookup(encoding).name
        self.delimiter = delimiter
        self.newline = newline.encode("ascii")
        self.bytes_read = 0
        self.bad_lines: dict[int, str] = {}
        self.blank_rows = 0

    def lines(self) -> Iterator[tuple[int, str]]:
        """``(line number, text with its line end)``; a bad line is yielded with replacement characters."""
        if self.encoding.startswith("utf-16"):
            yield from self._wide_lines()
            return
        newline = self.newline
        first_encoding = self.encoding
        encoding = "utf-8" if self.encoding == "utf-8-sig" else self.encoding
        number = 0
        with self.opener() as handle:
            tail = b""
            while True:
                block = handle.read(BLOCK_BYTES)
                self.bytes_read += len(block)
                if not block:
                    parts = [tail] if tail else []
                else:
                    parts = (tail + block).split(newline)
                    tail = parts.pop()
                for raw in parts:
                    number += 1
                    codec = first_encoding if number == 1 else encoding
                    try:
                        text = raw.decode(codec)
                    except UnicodeDecodeError as error:
                        self.bad_lines[number] = _("byte 0x%(byte)s at position %(position)s is not %(encoding)s") % {
                            "byte": raw[error.start : error.start + 1].hex(),
                            "position": error.start + 1,
                            "encoding": self.encoding,
                        }
                        text = raw.decode(codec, "replace")
                    yield number, text + "\n"
                if not block:
                    return

    def _wide_lines(self) -> Iterator[tuple[int, str]]:
        with self.opener() as raw_handle:
            handle = io.TextIOWrapper(raw_handle, encoding=self.encoding, newline="")
            try:
                for number, text in enumerate(handle, start=1):
                    self.bytes_read = raw_handle.tell()
                    yield number, text
            except UnicodeDecodeError as error:
                raise UnreadableFile(
                    _("The file is not valid %(encoding)s text.") % {"encoding": self.encoding}, field="encoding"
                ) from error

    def records(self) -> Iterator[Record]:
        """Every non-blank CSV record after the header, with the line it starts on."""
        numbered = self.lines()
        current = {"line": 0}

        def texts() -> Iterator[str]:
            for number, text in numbered:
                current["line"] = number
                yield text

        reader = csv.reader(texts(), delimiter=self.delimiter)
        seq = 0
        previous_end = 0
        header_seen = False
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                raise UnreadableFile(
                    _("The file cannot be read as CSV from line %(line)s on (%(error)s); look for a quote that is "
                      "never closed.") % {"line": previous_end + 1, "error": error},
                    field="file",
                ) from error  # fmt: skip
            start, previous_end = previous_end + 1, current["line"]
            if not any(value.strip() for value in values):
                self.blank_rows += header_seen
                continue
            if not header_seen:
                header_seen = True
                continue
            seq += 1
            decode_error = ""
            if self.bad_lines:
                for number in range(start, previous_end + 1):
                    if number in self.bad_lines:
                        decode_error = self.bad_lines.pop(number)
            yield Record(seq=seq, line=start, values=values, decode_error=decode_error)


_PHONE_SEPARATORS = str.maketrans("", "", " ().-\u00a0")
# The number types phonenumbers tells apart; a number is valid when it fits the region's general pattern and
# one of these. Mobile and fixed line come first because nearly every member's number is one of them.
_NUMBER_TYPES = ("mobile", "fixed_line", "premium_rate", "toll_free", "shared_cost", "voip", "personal_number",
                 "pager", "uan", "voicemail")  # fmt: skip

_Rule = tuple[frozenset[int], Callable[[str], object]]


def _rule(desc) -> _Rule | None:
    if desc is None or not desc.national_number_pattern:
        return None
    return frozenset(desc.possible_length), re.compile(desc.national_number_pattern).fullmatch


def _fits(national: str, rule: _Rule) -> bool:
    lengths, fullmatch = rule
    return (not lengths or len(national) in lengths) and fullmatch(national) is not None


@functools.cache
def _single_region_rules(code: int) -> tuple[_Rule, list[_Rule]] | None:
    """The validity rules of a calling code used by one region only (as ``phonenumbers.is_valid_number``)."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code, ())
    if len(regions) != 1 or regions[0] == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY:
        return None
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(regions[0])
    general = _rule(metadata.general_desc) if metadata is not None else None
    if general is None:
        return None
    return general, [rule for rule in (_rule(getattr(metadata, name)) for name in _NUMBER_TYPES) if rule]


class PhoneNormalizer:
    """E.164 as ``members.normalize.normalize_phone`` does it, cheaper for numbers already written with a +.

    Country calling codes are prefix-free, so "+<digits>" names its country by its first one to three digits;
    such a number is checked directly against its region's patterns, trying the likely number types first
    (``is_valid_number`` tries ten types in a fixed order, mobile last). Anything else (no +, a trunk 0 after
    the code, letters, a code shared by several regions, a number the quick check finds invalid) goes through
    the full parser, which has the last word.
    """

    def __init__(self, default_region: str = ""):
        self.default_region = default_region or None

    def __call__(self, raw: str, region: str = "") -> str | None:
        """The number in E.164, or None if it is not a valid number."""
        quick = self._international(raw)
        if quick is not None:
            return quick
        try:
            number = phonenumbers.parse(raw, (region or self.default_region or "").upper() or None)
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_valid_number(number):
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    @staticmethod
    def _international(raw: str) -> str | None:
        if not raw.startswith("+"):
            return None
        digits = raw[1:].translate(_PHONE_SEPARATORS)
        if not (digits.isascii() and digits.isdigit() and 7 <= len(digits) <= 15):
            return None
        for size in (1, 2, 3):
            code = int(digits[:size])
            if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
                national = digits[size:]
                if national.startswith("0"):
                    return None
                rules = _single_region_rules(code)
                if rules is not None:
                    general, types = rules
                    valid = _fits(national, general) and any(_fits(national, rule) for rule in types)
                    return "+" + digits if valid else None
                number = phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
                return "+" + digits if phonenumbers.is_valid_number(number) else None
        return None
