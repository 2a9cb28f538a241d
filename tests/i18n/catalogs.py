"""The project's translation catalogs: compiling them for a test run, and reading the .po files."""

import ast
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
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


# What ``make makemessages`` leaves out (see the Makefile), besides what Django always skips.
SKIPPED_DIRECTORIES = {".venv", ".data", ".git", "bench", "tests", "locale", "node_modules", "staticfiles"}
SOURCE_SUFFIXES = {".py", ".html", ".txt"}


def msgids_in_code(work_dir: Path) -> set[str]:
    """The msgids ``makemessages`` would collect from the project now, run on a copy of its sources.

    The copy keeps the real catalogs out of reach: makemessages writes next to the files it reads.
    """
    source = Path(settings.BASE_DIR)
    copy = work_dir / "project"
    for path in source.rglob("*"):
        relative = path.relative_to(source)
        if relative.parts[0] in SKIPPED_DIRECTORIES or path.suffix not in SOURCE_SUFFIXES or not path.is_file():
            continue
        target = copy / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    locale = copy / "locale"
    (locale / "ar" / "LC_MESSAGES").mkdir(parents=True)
    previous = Path.cwd()
    try:
        os.chdir(copy)
        with override_settings(LOCALE_PATHS=[locale]):
            call_command("makemessages", locale=["ar"], verbosity=0)
    finally:
        os.chdir(previous)
    return {entry.msgid for entry in read_po(locale / "ar" / "LC_MESSAGES" / "django.po")[1:]}
