"""Subject ids: a keyed hash of a person's normalised business e-mail, or of their phone number where no
e-mail was collected (E.164, by the contract's own ``schemas.phone.normalise_phone``).

The analytics rows carry only these ids. Without the key nobody can link an id
back to an e-mail by hashing guesses, and one key change re-pseudonymises all.
"""

from __future__ import annotations

import hashlib
import hmac

from schemas.envelope import Person
from schemas.phone import normalise_phone


class MissingPseudonymKey(Exception):
    """No secret for subject ids: set LINEAGE_PSEUDONYM_KEY (the demo keeps one in its home folder)."""


def normalise_email(email: str) -> str:
    return email.strip().lower()


class Pseudonymizer:
    def __init__(self, key: bytes | None) -> None:
        if not key:
            raise MissingPseudonymKey(
                "no pseudonym key: set LINEAGE_PSEUDONYM_KEY to a long random secret, or LINEAGE_PSEUDONYM_KEY_FILE "
                "to a file holding it (`lineage demo` keeps one for the local store in .lineage/pseudonym.key)"
            )
        self._key = key
        self._memo: dict[str, str] = {}

    def of_email(self, email: str) -> str:
        return self._hash(normalise_email(email))

    def of_person(self, person: Person) -> str:
        return self.of_contact(person.email, person.phone)

    def of_contact(self, email: str | None, phone: str | None) -> str:
        # A trial application may carry only a phone number: it gets an id of its own
        # kind, so it can never collide with an e-mail's. A number that is none raises
        # InvalidPhone: the contract refuses it first, so it is never hashed.
        if email:
            return self.of_email(email)
        return self.of_phone(phone or "")

    def of_phone(self, phone: str) -> str:
        return self._hash("tel:" + normalise_phone(phone))

    def _hash(self, text: str) -> str:
        # The same few hundred people recur in every batch: memoising saves the HMAC.
        found = self._memo.get(text)
        if found is None:
            found = hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()
            if len(self._memo) < 1_000_000:
                self._memo[text] = found
        return found
