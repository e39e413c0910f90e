"""Payout details through schwifty: IBANs of any IBAN country, check digits, and a BIC that must be the
IBAN's country's and, where schwifty knows the bank, the IBAN's bank's."""

import pytest

from payouts.models import PayoutMethod
from payouts.services import PayoutError, payout_method_add
from payouts.validation import InvalidDetails, normalise_bic, normalise_iban

pytestmark = pytest.mark.django_db

GERMAN_IBAN = "DE89370400440532013000"  # Commerzbank, BIC COBADEFFXXX


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("de89 3704 0044 0532 0130 00", GERMAN_IBAN),
        ("AE07 0331 2345 6789 0123 456", "AE070331234567890123456"),  # outside the old hand-kept list
        ("SA03 8000 0000 6080 1016 7519", "SA0380000000608010167519"),
    ],
)
def test_ibans_of_every_iban_country_are_accepted_in_electronic_form(text, expected):
    assert normalise_iban(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("DE89 3704 0044 0532 0130 01", "This IBAN's check digits do not match: please check it for a typo."),
        ("DE89 3704 0044 0532 0130", "An IBAN from DE has 22 characters; this one has 20."),
        ("hello", "Enter the IBAN as printed on your bank statement"),
    ],
)
def test_bad_ibans_say_what_to_fix(text, message):
    with pytest.raises(InvalidDetails) as refused:
        normalise_iban(text)

    assert message in str(refused.value)


def test_the_bic_must_be_the_ibans_bank_where_schwifty_knows_it():
    assert normalise_bic("cobadeffxxx", iban=GERMAN_IBAN) == "COBADEFFXXX"
    assert normalise_bic("COBADEFF", iban=GERMAN_IBAN) == "COBADEFF"

    with pytest.raises(
        InvalidDetails, match=r"belongs to another bank than the IBAN \(whose bank's BIC starts COBADE\)"
    ):
        normalise_bic("DEUTDEFF", iban=GERMAN_IBAN)
    with pytest.raises(InvalidDetails, match=r"^This BIC is for a bank in NL, but the IBAN is from DE\.$"):
        normalise_bic("ABNANL2A", iban=GERMAN_IBAN)
    with pytest.raises(InvalidDetails, match="8 or 11 letters and digits"):
        normalise_bic("COB1DEFF", iban=GERMAN_IBAN)


def test_a_bank_method_with_another_banks_bic_is_refused_and_nothing_is_saved(bob):
    with pytest.raises(PayoutError, match="belongs to another bank"):
        payout_method_add(creator=bob, kind="bank", holder_name="Bob", currency="EUR", iban=GERMAN_IBAN, bic="DEUTDEFF")

    assert PayoutMethod.objects.count() == 0
