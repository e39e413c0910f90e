"""The translation catalogues: every string marked in a template, a module or a script is in each locale's
catalogue, and every catalogue is complete (nothing untranslated or fuzzy) and compiles.

The checks of the project's own catalogues run once locale/ has catalogues; the checks of the checks run
always, on small projects made here, so the helpers are known to catch what they are for. All of them run
Django's real makemessages and compilemessages (GNU gettext: `make test` and .ci/run install it).
"""

import os
import shutil
import textwrap

import pytest
from django.conf import settings

from coinsite.tests.catalogues import (
    CatalogueError,
    catalogue_paths,
    compile_catalogues,
    gettext_installed,
    incomplete_entries,
    missing_messages,
)

LOCALE_DIR = settings.BASE_DIR / "locale"


@pytest.fixture(autouse=True)
def _gettext():
    if not gettext_installed():
        if os.environ.get("CI"):
            pytest.fail("GNU gettext is required for the catalogue checks: apt-get install gettext")
        pytest.skip("GNU gettext is not installed (apt-get install gettext); catalogue check skipped")


needs_catalogues = pytest.mark.skipif(
    not catalogue_paths(LOCALE_DIR), reason="locale/ has no catalogues yet (see locale/README.md)"
)


# --- The project's catalogues ---------------------------------------------------------------------------


@needs_catalogues
def test_every_marked_string_is_in_every_catalogue():
    missing = missing_messages(settings.BASE_DIR, LOCALE_DIR)

    assert missing == {}, "Run makemessages and translate:\n" + "\n".join(
        f"{catalogue}: {text}" for catalogue, texts in missing.items() for text in texts
    )


@needs_catalogues
def test_every_catalogue_is_complete_and_compiles():
    assert incomplete_entries(LOCALE_DIR) == {}
    assert len(compile_catalogues(LOCALE_DIR)) == len(catalogue_paths(LOCALE_DIR))


def test_every_language_the_site_speaks_has_a_catalogue_once_there_are_any():
    paths = catalogue_paths(LOCALE_DIR)
    if not paths:
        pytest.skip("locale/ has no catalogues yet")
    locales = {path.parent.parent.name for path in paths}
    expected = {code.replace("-br", "_BR") for code, _name in settings.LANGUAGES if code != "en"}
    assert expected <= locales


# --- The checks catch what they are for (small projects made here) -----------------------------------------


PO_HEADER = """\
msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\\n"
"Plural-Forms: nplurals=2; plural=(n > 1);\\n"
"Language: fr\\n"

"""


def project(tmp_path, *, template: str, catalogue: str, script: str = ""):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "page.html").write_text("{% load i18n %}" + template)
    (tmp_path / "app.py").write_text(
        "from django.utils.translation import gettext as _\n\n\ndef title() -> str:\n    return _('Your wallet')\n"
    )
    if script:
        (tmp_path / "static").mkdir()
        (tmp_path / "static" / "page.js").write_text(script)
    messages = tmp_path / "locale" / "fr" / "LC_MESSAGES"
    messages.mkdir(parents=True)
    (messages / "django.po").write_text(PO_HEADER + textwrap.dedent(catalogue))
    return tmp_path


COMPLETE = """\
    msgid "Buy coins"
    msgstr "Acheter des pièces"

    msgid "Your wallet"
    msgstr "Votre portefeuille"

    #, python-format
    msgid "%(count)s coin"
    msgid_plural "%(count)s coins"
    msgstr[0] "%(count)s pièce"
    msgstr[1] "%(count)s pièces"
"""
TEMPLATE = (
    '{% translate "Buy coins" %}'
    "{% blocktranslate count count=n %}{{ count }} coin{% plural %}{{ count }} coins{% endblocktranslate %}"
)


def test_a_complete_catalogue_passes_every_check(tmp_path):
    root = project(tmp_path, template=TEMPLATE, catalogue=COMPLETE)

    assert missing_messages(root) == {}
    assert incomplete_entries(root / "locale") == {}
    assert compile_catalogues(root / "locale") == [root.joinpath("locale/fr/LC_MESSAGES/django.mo").relative_to(root)]
    assert not (root / "locale" / "fr" / "LC_MESSAGES" / "django.mo").exists()  # compiled in a copy


def test_strings_outside_the_catalogue_are_found_and_the_checkout_is_left_alone(tmp_path):
    root = project(
        tmp_path,
        template=TEMPLATE + '{% translate "Send a gift" %}{% translate "May" context "month" %}',
        catalogue=COMPLETE,
        script='gettext("Enter a whole number");',
    )
    before = (root / "locale" / "fr" / "LC_MESSAGES" / "django.po").read_text()

    missing = missing_messages(root)

    assert missing == {"fr/django": ["Send a gift", "May (context: month)"]}
    assert (root / "locale" / "fr" / "LC_MESSAGES" / "django.po").read_text() == before
    assert sorted(path.name for path in (root / "locale").rglob("*")) == ["LC_MESSAGES", "django.po", "fr"]


def test_javascript_strings_outside_a_javascript_catalogue_are_found(tmp_path):
    root = project(tmp_path, template=TEMPLATE, catalogue=COMPLETE, script='gettext("Enter a whole number");')
    (root / "locale" / "fr" / "LC_MESSAGES" / "djangojs.po").write_text(PO_HEADER)

    assert missing_messages(root) == {"fr/djangojs": ["Enter a whole number"]}


UNTRANSLATED_PLURAL = """
msgid "%(count)s diamond"
msgid_plural "%(count)s diamonds"
msgstr[0] "%(count)s diamant"
msgstr[1] ""
"""


def test_untranslated_and_fuzzy_entries_are_found(tmp_path):
    root = project(
        tmp_path,
        template=TEMPLATE,
        catalogue=COMPLETE.replace('msgstr "Votre portefeuille"', 'msgstr ""').replace(
            'msgid "Buy coins"', '#, fuzzy\nmsgid "Buy coins"'
        )
        + UNTRANSLATED_PLURAL,
    )

    assert incomplete_entries(root / "locale") == {
        "fr/django": ["fuzzy: Buy coins", "untranslated: Your wallet", "untranslated: %(count)s diamond"]
    }


def test_a_catalogue_that_does_not_compile_is_refused_with_msgfmts_reason(tmp_path):
    root = project(
        tmp_path,
        template=TEMPLATE,
        catalogue=COMPLETE.replace('msgstr[1] "%(count)s pièces"', 'msgstr[1] "%(nombre)s pièces"'),
    )

    with pytest.raises(CatalogueError) as refused:
        compile_catalogues(root / "locale")

    assert "compilemessages failed" in str(refused.value)
    assert "nombre" in str(refused.value)


def test_the_helpers_need_no_locale_folder_to_report_nothing(tmp_path):
    root = project(tmp_path, template=TEMPLATE, catalogue=COMPLETE)
    shutil.rmtree(root / "locale")

    assert missing_messages(root) == {}
    assert incomplete_entries(root / "locale") == {}
