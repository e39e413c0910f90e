"""Checks for payout details, through schwifty: the IBAN (its country's format and length, the
ISO 13616 check digits and, where schwifty knows the country's algorithm, the national check digits)
and the BIC (format, then: in the IBAN's country and, where schwifty's bank registry knows the
IBAN's bank, that bank). Each failure says what to fix, in words a creator understands.
"""

import warnings

from django.utils.translation import gettext as _
from schwifty import BIC, IBAN
from schwifty import exceptions as schwifty_errors
from schwifty.registry import get_iban_spec


class InvalidDetails(ValueError):
    """The details are not valid; ``str(error)`` tells the creator what to fix."""


def normalise_iban(value: str) -> str:
    """The IBAN in its electronic form (no spaces, upper case), or InvalidDetails."""
    text = "".join((value or "").split()).upper()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "national checksum not verified" for countries schwifty cannot check
            iban = IBAN(text, validate_bban=True)
    except schwifty_errors.InvalidCountryCode:
        raise InvalidDetails(
            _("Bank payouts to {country} accounts are not available; use PayPal instead.").format(country=text[:2])
        ) from None
    except schwifty_errors.InvalidLength:
        raise InvalidDetails(_length_message(text)) from None
    except schwifty_errors.InvalidChecksumDigits:
        raise InvalidDetails(_("This IBAN's check digits do not match: please check it for a typo.")) from None
    except schwifty_errors.SchwiftyException:
        raise InvalidDetails(
            _("Enter the IBAN as printed on your bank statement, e.g. DE89 3704 0044 0532 0130 00.")
        ) from None
    if iban.is_aspirational:  # a format some banks announced, not yet in use for payouts
        raise InvalidDetails(
            _("Bank payouts to {country} accounts are not available; use PayPal instead.").format(country=text[:2])
        )
    return iban.compact


def normalise_bic(value: str, *, iban: str | None = None) -> str:
    """The BIC (SWIFT code) in upper case, or InvalidDetails; with `iban` (a valid one), it must be a
    bank in the IBAN's country and, where schwifty knows the IBAN's bank, that bank."""
    try:
        bic = BIC("".join((value or "").split()).upper(), enforce_swift_compliance=True)
    except schwifty_errors.SchwiftyException:
        raise InvalidDetails(
            _("Enter the bank's BIC (SWIFT code): 8 or 11 letters and digits, e.g. COBADEFFXXX.")
        ) from None
    if iban is not None:
        _check_bic_matches_iban(bic, IBAN(iban))
    return bic.compact


def _check_bic_matches_iban(bic: BIC, iban: IBAN) -> None:
    if bic.country_code != iban.country_code:
        raise InvalidDetails(
            _("This BIC is for a bank in {bic_country}, but the IBAN is from {iban_country}.").format(
                bic_country=bic.country_code, iban_country=iban.country_code
            )
        )
    expected = iban.bic  # None where schwifty has no bank registry for the country
    if expected is None or expected.bank_code == bic.bank_code or iban.bank_code in bic.domestic_bank_codes:
        return
    raise InvalidDetails(
        _("This BIC belongs to another bank than the IBAN (whose bank's BIC starts {prefix}).").format(
            prefix=expected.compact[:6]
        )
    )


def _length_message(text: str) -> str:
    try:
        expected = get_iban_spec(text[:2]).iban_length
    except (KeyError, schwifty_errors.SchwiftyException):
        return _("Enter the IBAN as printed on your bank statement, e.g. DE89 3704 0044 0532 0130 00.")
    return _("An IBAN from {country} has {expected} characters; this one has {length}.").format(
        country=text[:2], expected=expected, length=len(text)
    )
