"""Phone numbers as the contract takes them: normalised to E.164, one function for every reader.

A trial applicant is known by phone only, and their subject id is the keyed hash of
the number. So every spelling of one number ("+31 6 5555 0101", "06-55550101",
"0031655550101") must give the same text before it is hashed, and text that is no
number at all ("n/a", "call me") must be refused at the contract, never hashed.
The consumer (the message readers and the pseudonymiser) and the rights commands
all call ``normalise_phone``. Numbers without a country code are read as Dutch.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

DEFAULT_REGION = "NL"
# A run of characters a written phone number is made of; what it holds is decided by normalise_phone.
_WRITTEN = re.compile(rb"[+(0-9][0-9 ()./-]{5,30}[0-9]")


class InvalidPhone(ValueError):
    """The text is not a phone number that can be written in E.164."""


@lru_cache(maxsize=65_536)
def normalise_phone(text: str, region: str = DEFAULT_REGION) -> str:
    """The number in E.164 (``+31655550101``); InvalidPhone when it is none."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"not a phone number ({exc})") from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidPhone("not a phone number (too short or too long for its country)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_problem(text: str) -> str | None:
    """Why ``text`` is refused as a phone number, or None when it is one."""
    try:
        normalise_phone(text)
    except InvalidPhone as exc:
        return str(exc)
    return None


def mentions_phone(data: bytes, e164: str) -> bool:
    """Whether bytes (a message, any encoding of text) hold the number ``e164`` in any spelling."""
    for run in _WRITTEN.findall(data):
        # Avro puts a string's length just before it, and a length byte may read as a digit.
        for text in (run, run[1:]):
            try:
                if normalise_phone(text.decode("ascii")) == e164:
                    return True
            except InvalidPhone:
                continue
    return False
