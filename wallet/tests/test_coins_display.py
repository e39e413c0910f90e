"""How an amount of coins shows on every page and in the one-tap answer: `{% coins_amount %}`, which
`templates/wallet/_coins.html` is; and an amount of diamonds on the creator's pages: `{% diamonds_amount %}`
(no database needed: the amounts come valued)."""

import pytest
from django.template.loader import render_to_string
from django.utils import translation
from djmoney.money import Money

from wallet.templatetags.wallet_money import coins_amount, diamonds_amount
from wallet.valuation import CoinAmount, DiamondAmount

CASES = [
    (
        "en",
        CoinAmount(1, Money("0.01", "USD")),
        {},
        '<span class="coins">1 coin</span> <span class="coin-value">($0.01)</span>',
    ),
    (
        "en",
        CoinAmount(1500, Money("21.15", "EUR")),
        {"prefix": "+"},
        '<span class="coins">+1,500 coins</span> <span class="coin-value">(€21.15)</span>',
    ),
    (
        "fr",
        CoinAmount(1500, Money("21.15", "EUR")),
        {"prefix": "\u2212"},
        '<span class="coins">\u22121\u202f500 pièces</span> <span class="coin-value">(21,15\xa0€)</span>',
    ),
    ("de", CoinAmount(1, None), {}, '<span class="coins">1 Münze</span>'),  # no coin price in that currency
    (
        "ja",
        CoinAmount(1234567, Money("1000", "JPY")),
        {},
        '<span class="coins">1,234,567 コイン</span> <span class="coin-value">(¥1,000)</span>',
    ),
    ("en", None, {}, '<span class="muted">No limit</span>'),  # a budget with no limit
    ("fr", None, {}, '<span class="muted">Aucune limite</span>'),
    ("en", None, {"empty": "0 coins"}, '<span class="muted">0 coins</span>'),
    ("en", CoinAmount(2, None), {"prefix": "<b>&"}, '<span class="coins">&lt;b&gt;&amp;2 coins</span>'),
    ("en", None, {"empty": "<i>none</i>"}, '<span class="muted">&lt;i&gt;none&lt;/i&gt;</span>'),
]


@pytest.mark.parametrize(("language", "amount", "options", "html"), CASES)
def test_coins_show_counted_and_valued_in_the_language_with_everything_else_escaped(language, amount, options, html):
    with translation.override(language):
        assert coins_amount(amount, **options) == html


@pytest.mark.parametrize(("language", "amount", "options", "html"), CASES)
def test_the_coins_partial_is_the_tag(language, amount, options, html):
    """Pages include the partial with the same variables; it adds the file's final line break, as it always did."""
    with translation.override(language):
        assert render_to_string("wallet/_coins.html", {"amount": amount, **options}) == html + "\n"


@pytest.mark.parametrize(
    ("language", "amount", "html"),
    [
        (
            "en",
            DiamondAmount(1, Money("0.01", "USD")),
            '<span class="diamonds">1 diamond</span> <span class="coin-value">($0.01)</span>',
        ),
        (
            "en",
            DiamondAmount(12345, Money("48.53", "GBP")),
            '<span class="diamonds">12,345 diamonds</span> <span class="coin-value">(£48.53)</span>',
        ),
        (
            "fr",
            DiamondAmount(1500, Money("7.5", "EUR")),
            '<span class="diamonds">1\u202f500 diamants</span> <span class="coin-value">(7,50\xa0€)</span>',
        ),
        (
            "de",
            DiamondAmount(1, Money("0.005", "EUR")),
            '<span class="diamonds">1 Diamant</span> <span class="coin-value">(0,01\xa0€)</span>',
        ),
        (
            "ja",
            DiamondAmount(0, Money("0", "JPY")),
            '<span class="diamonds">0 ダイヤモンド</span> <span class="coin-value">(¥0)</span>',
        ),
    ],
)
def test_diamonds_show_counted_and_valued_in_the_language(language, amount, html):
    with translation.override(language):
        assert diamonds_amount(amount) == html
