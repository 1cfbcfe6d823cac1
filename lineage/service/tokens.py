"""API tokens: who may call the service, in which role.

A token is 32 random bytes, shown once when it is made; the book keeps only its
SHA-256 (a token is as random as a key, so a fast hash is enough: there is no
password to guess). The book is a JSON file readable by its owner only, outside
the store, so tokens can be made and revoked while the service holds the store;
the service reads the file again whenever it changes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

PREFIX = "lin_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class Role(StrEnum):
    product = "product"  # usage questions and the report: pseudonymous counts only
    privacy = "privacy"  # the data-subject commands and the request register
    operator = "operator"  # retention, consumer and broker status, metrics
    local = "local"  # the CLI on the service's own machine: whoever can read the home folder (see local.py)


GRANTABLE = (Role.product, Role.privacy, Role.operator)


class TokenError(Exception):
    """A token cannot be made, found or revoked as asked."""


@dataclass(frozen=True)
class Token:
    name: str
    role: Role
    sha256: str
    created_at: str

    @property
    def public(self) -> dict[str, str]:
        return {"name": self.name, "role": self.role.value, "created_at": self.created_at}


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenBook:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen: tuple[float, int] | None = None
        self._tokens: list[Token] = []

    def tokens(self) -> list[Token]:
        """The tokens in the file, read again when the file changed."""
        with self._lock:
            try:
                stat = self.path.stat()
            except FileNotFoundError:
                self._seen, self._tokens = None, []
                return []
            if self._seen != (stat.st_mtime, stat.st_size):
                self._tokens = self._read()
                self._seen = (stat.st_mtime, stat.st_size)
            return list(self._tokens)

    def find(self, presented: str) -> Token | None:
        """The token whose hash matches; compared in constant time."""
        wanted = digest(presented)
        found = None
        for token in self.tokens():
            if hmac.compare_digest(token.sha256, wanted):
                found = token
        return found

    def create(self, name: str, role: Role) -> str:
        """Make a token; returns it in clear (the only time it is ever shown)."""
        if not _NAME.match(name):
            raise TokenError(f"a token name is 1-64 letters, digits, '.', '_', '@' or '-', not {name!r}")
        if role not in GRANTABLE:
            raise TokenError(f"a token's role is one of {', '.join(r.value for r in GRANTABLE)}")
        tokens = self.tokens()
        if any(t.name == name for t in tokens):
            raise TokenError(f"a token named {name!r} exists already; revoke it first or choose another name")
        clear = PREFIX + secrets.token_urlsafe(32)
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self._write([*tokens, Token(name, role, digest(clear), now)])
        return clear

    def revoke(self, name: str) -> Token:
        tokens = self.tokens()
        gone = [t for t in tokens if t.name == name]
        if not gone:
            raise TokenError(f"no token named {name!r}")
        self._write([t for t in tokens if t.name != name])
        return gone[0]

    def _read(self) -> list[Token]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            return [Token(r["name"], Role(r["role"]), r["sha256"], r["created_at"]) for r in raw]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise TokenError(f"the token file {self.path} cannot be read: {exc}") from None

    def _write(self, tokens: list[Token]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        staged = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump([{**asdict(t), "role": t.role.value} for t in tokens], fh, indent=1)
        os.replace(staged, self.path)  # whole or not at all, for a service reading it meanwhile
