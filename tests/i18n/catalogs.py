"""The project's translation catalogs: compiling them for a test run, and reading the .po files."""

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.utils import translation
from django.utils.translation import trans_real

LANGUAGES = ("ar", "ms")
PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[sdifr]")


def po_path(language: str) -> Path:
    return Path(settings.LOCALE_PATHS[0]) / language / "LC_MESSAGES" / "django.po"


def ensure_compiled() -> None:
    """Compile the .po files when a .mo is missing or older, and drop catalogs this process loaded before."""
    stale = []
    for language in LANGUAGES:
        po = po_path(language)
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            stale.append(language)
    if stale:
        call_command("compilemessages", locale=stale, verbosity=0)
        # Django keeps each language's catalog for the life of the process; forget the ones read before.
        trans_real._translations = {}
        trans_real._default = None
        translation.deactivate_all()
        translation.activate(settings.LANGUAGE_CODE)


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    line: int = 0


def read_po(path: Path) -> list[Entry]:
    """The entries of a .po file (the header first), enough of the format for checking completeness."""
    entries: list[Entry] = []
    entry = Entry()
    target: tuple[str, int] | None = None
    started = False

    def finish() -> None:
        nonlocal entry, started
        if started:
            entries.append(entry)
        entry, started = Entry(), False

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line:
            finish()
            continue
        if line.startswith("#,"):
            entry.flags.update(flag.strip() for flag in line[2:].split(","))
            continue
        if line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        if line.startswith('"'):
            value = ast.literal_eval(line)
        else:
            value = ast.literal_eval(rest)
            started = True
            entry.line = entry.line or number
            if keyword == "msgid":
                target = ("msgid", 0)
            elif keyword == "msgid_plural":
                target = ("msgid_plural", 0)
                entry.msgid_plural = ""
            elif keyword == "msgstr":
                target = ("msgstr", 0)
                entry.msgstr[0] = ""
            elif keyword.startswith("msgstr["):
                target = ("msgstr", int(keyword[7:-1]))
                entry.msgstr[target[1]] = ""
            elif keyword == "msgctxt":
                target = None
                continue
            else:
                raise ValueError(f"{path}:{number}: unexpected {keyword}")
        if target is None:
            continue
        name, index = target
        if name == "msgstr":
            entry.msgstr[index] += value
        elif name == "msgid":
            entry.msgid += value
        else:
            entry.msgid_plural += value
    finish()
    return entries


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))
