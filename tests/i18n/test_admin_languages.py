"""The operator console speaks English, Arabic (right to left) and Malay, switched from any admin page."""

import re

from django.conf import settings
from django.urls import reverse

from tests.i18n.catalogs import LANGUAGES, msgids_in_code, placeholders, po_path, read_po


def _html_tag(html: str) -> str:
    return re.search(r"<html[^>]*>", html).group(0)


def _index_in(client, language: str) -> str:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    return response.content.decode()


def test_admin_in_arabic_renders_right_to_left_with_our_strings_translated(admin_client):
    html = _index_in(admin_client, "ar")

    tag = _html_tag(html)
    assert 'dir="rtl"' in tag
    assert 'lang="ar"' in tag
    assert "admin/css/rtl.css" in html
    assert "الأعضاء" in html  # "Members", the members app and its section
    assert ">تبديل<" in html  # the language switch's own button


def test_admin_in_malay_shows_malay_strings_left_to_right(admin_client):
    html = _index_in(admin_client, "ms")

    tag = _html_tag(html)
    assert 'dir="ltr"' in tag
    assert 'lang="ms"' in tag
    assert ">Tukar<" in html  # "Switch"
    assert "Tetapan" in html  # "Settings", a section of the console


def test_arabic_from_the_browser_language_when_no_choice_was_made(admin_client):
    response = admin_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="ar-AE,ar;q=0.9,en;q=0.5")

    assert 'dir="rtl"' in _html_tag(response.content.decode())


def test_language_switch_sets_the_language_and_returns_to_the_same_page(admin_client):
    page = reverse("admin:index")
    html = admin_client.get(page).content.decode()
    form = re.search(r'<form id="language-switch" action="([^"]+)" method="post">(.*?)</form>', html, re.S)
    assert form.group(1) == reverse("set_language")
    assert re.findall(r'<option value="(\w+)"', form.group(2)) == ["en", "ar", "ms"]

    response = admin_client.post(form.group(1), {"language": "ar", "next": page})

    assert response.status_code == 302
    assert response.url == page
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ar"
    assert 'lang="ar"' in _html_tag(admin_client.get(page).content.decode())


def test_login_page_offers_the_language_switch(client):
    html = client.get(reverse("admin:login")).content.decode()

    assert 'id="language-switch"' in html


def test_catalogs_have_no_untranslated_or_fuzzy_entries():
    for language in LANGUAGES:
        header, *entries = read_po(po_path(language))
        assert header.msgid == ""
        assert "fuzzy" not in header.flags, f"{language}: the header is fuzzy"
        assert f"Language: {language}\n" in header.msgstr[0]
        assert len(entries) > 100
        for entry in entries:
            where = f"{language} line {entry.line}: {entry.msgid!r}"
            assert "fuzzy" not in entry.flags, f"fuzzy: {where}"
            assert entry.msgstr and all(entry.msgstr.values()), f"untranslated: {where}"


def test_translations_keep_the_placeholders_of_the_original():
    for language in LANGUAGES:
        for entry in read_po(po_path(language))[1:]:
            where = f"{language} line {entry.line}: {entry.msgid!r}"
            if entry.msgid_plural is None:
                assert placeholders(entry.msgstr[0]) == placeholders(entry.msgid), where
            else:
                allowed = placeholders(entry.msgid) | placeholders(entry.msgid_plural)
                for form in entry.msgstr.values():
                    assert placeholders(form) <= allowed, where


def test_every_translatable_string_in_the_code_is_in_the_catalogs(tmp_path):
    in_code = msgids_in_code(tmp_path)
    assert len(in_code) > 100

    for language in LANGUAGES:
        in_catalog = {entry.msgid for entry in read_po(po_path(language))[1:]}
        missing = sorted(in_code - in_catalog)
        assert not missing, (
            f"{len(missing)} string(s) of the code are not in the {language} catalog; run `make makemessages` "
            f"and translate them: {missing[:10]}"
        )
