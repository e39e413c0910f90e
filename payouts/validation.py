"""Checks for payout details: IBAN (ISO 13616: country length and mod-97 check digits) and BIC."""

import re

# IBAN lengths of the SEPA countries and a few more that creators here bank in.
IBAN_LENGTHS = {
    "AD": 24,
    "AT": 20,
    "BE": 16,
    "BG": 22,
    "CH": 21,
    "CY": 28,
    "CZ": 24,
    "DE": 22,
    "DK": 18,
    "EE": 20,
    "ES": 24,
    "FI": 18,
    "FR": 27,
    "GB": 22,
    "GI": 23,
    "GR": 27,
    "HR": 21,
    "HU": 28,
    "IE": 22,
    "IS": 26,
    "IT": 27,
    "LI": 21,
    "LT": 20,
    "LU": 20,
    "LV": 21,
    "MC": 27,
    "MT": 31,
    "NL": 18,
    "NO": 15,
    "PL": 28,
    "PT": 25,
    "RO": 24,
    "SE": 24,
    "SI": 19,
    "SK": 24,
    "SM": 27,
    "BR": 29,
}
BIC_PATTERN = re.compile(r"^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")


class InvalidDetails(ValueError):
    """The details are not valid; ``str(error)`` tells the creator what to fix."""


def normalise_iban(value: str) -> str:
    """The IBAN in its electronic form (no spaces, upper case), or InvalidDetails."""
    iban = "".join((value or "").split()).upper()
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{10,30}", iban):
        raise InvalidDetails("Enter the IBAN as printed on your bank statement, e.g. DE89 3704 0044 0532 0130 00.")
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected is None:
        raise InvalidDetails(f"Bank payouts to {iban[:2]} accounts are not available; use PayPal instead.")
    if len(iban) != expected:
        raise InvalidDetails(f"An IBAN from {iban[:2]} has {expected} characters; this one has {len(iban)}.")
    rearranged = iban[4:] + iban[:4]
    digits = "".join(str(int(char, 36)) for char in rearranged)
    if int(digits) % 97 != 1:
        raise InvalidDetails("This IBAN's check digits do not match: please check it for a typo.")
    return iban


def normalise_bic(value: str) -> str:
    bic = "".join((value or "").split()).upper()
    if not BIC_PATTERN.fullmatch(bic):
        raise InvalidDetails("Enter the bank's BIC (SWIFT code): 8 or 11 letters and digits, e.g. COBADEFFXXX.")
    return bic
