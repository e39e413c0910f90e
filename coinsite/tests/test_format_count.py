"""Whole numbers read as Babel writes them in every language, whether Babel or Python groups the digits."""

import pytest
from babel.numbers import format_decimal
from django.conf import settings
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from coinsite.lib import l10n

# The site's languages, and Hindi, which groups "12,34,567": Babel must keep that one.
LANGUAGES = [code for code, _name in settings.LANGUAGES] + ["hi"]


@pytest.mark.parametrize("language", LANGUAGES)
@given(number=st.integers(min_value=-(10**18), max_value=10**18))
def test_a_count_reads_as_babel_writes_it(language, number):
    with translation.override(language):
        assert l10n.format_count(number) == format_decimal(number, locale=l10n.active_locale())


def test_python_groups_the_sites_languages_and_babel_the_others():
    for code, _name in settings.LANGUAGES:
        assert l10n._plain_grouping(translation.to_locale(code)) is not None, code
    assert l10n._plain_grouping("hi") is None
    with translation.override("hi"):
        assert l10n.format_count(1_234_567) == "12,34,567"
    with translation.override("fr"):
        assert l10n.format_count(-1_234_567) == "-1\u202f234\u202f567"
