"""Checkpoints: the heads of every chain, numbered, linked to the checkpoint before, and signed.

In the manner of CloudTrail's digest files: each says, for each chain, where it
legitimately starts (the first row the store held when it was sealed) and its head
(the newest row's place and hash). Signed with an Ed25519 key kept outside the store,
and written outside it too (a folder, and a compacted Kafka topic when a broker is
configured), so that whoever can change the store can neither rewrite old rows nor
drop the newest ones unnoticed.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from consumers.audit.canonical import text
from consumers.audit.errors import AuditError, CheckpointUnreadable
from consumers.audit.trail import Head
from schemas.values import as_utc

_RAW = (serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _when(text: str) -> dt.datetime:
    """A moment as a checkpoint writes it (``canonical.moment``: ISO 8601 ending in Z)."""
    return as_utc(dt.datetime.fromisoformat(text))


@dataclass(frozen=True)
class Checkpoint:
    body: dict[str, Any]  # number, sealed_at, previous, key, chains
    signature: str  # base64 of the Ed25519 signature of the body's canonical text

    @property
    def number(self) -> int:
        return int(self.body["number"])

    @property
    def sealed_at(self) -> dt.datetime:
        return _when(self.body["sealed_at"])

    def head(self, table: str) -> Head | None:
        seal = self.body["chains"].get(table)
        if seal is None:
            return None
        h = seal["head"]
        return Head(int(h["seq"]), h["hash"], _when(h["latest"]))

    def digest(self) -> str:
        """What the next checkpoint names as its ``previous``."""
        return hashlib.sha256(text({"body": self.body, "signature": self.signature})).hexdigest()

    def signed_by(self, key: Ed25519PublicKey) -> bool:
        try:
            key.verify(base64.b64decode(self.signature), text(self.body))
            return True
        except (InvalidSignature, ValueError):
            return False

    def file_text(self) -> str:
        return json.dumps({"body": self.body, "signature": self.signature}, indent=1, sort_keys=True) + "\n"

    @classmethod
    def parse(cls, raw: str | bytes, where: str) -> Checkpoint:
        try:
            doc = json.loads(raw)
            cp = cls(doc["body"], doc["signature"])
            cp.number, cp.sealed_at  # noqa: B018 - read now, so that a broken file fails here and not later
            for seal in cp.body["chains"].values():
                int(seal["head"]["seq"]), seal["head"]["hash"]  # noqa: B018
            return cp
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CheckpointUnreadable(f"{where} is not a checkpoint ({type(exc).__name__}: {exc})") from None


def fingerprint(key: Ed25519PublicKey) -> str:
    """A short name of a public key: the first 16 hex digits of the SHA-256 of its raw bytes."""
    return hashlib.sha256(key.public_bytes(*_RAW)).hexdigest()[:16]


class Signer:
    """The private key, in a PEM file (PKCS#8, unencrypted, mode 0600) outside the store."""

    def __init__(self, key_file: Path) -> None:
        self.key_file = key_file
        self._key: Ed25519PrivateKey | None = None

    def ensure(self) -> bool:
        """Create the key if there is none; True when it was created."""
        if self.key_file.exists():
            return False
        self.key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        return True

    @property
    def key(self) -> Ed25519PrivateKey:
        if self._key is None:
            try:
                loaded = serialization.load_pem_private_key(self.key_file.read_bytes(), password=None)
            except OSError as exc:
                raise AuditError(f"cannot read the audit signing key {self.key_file}: {exc.strerror}") from None
            except ValueError:
                raise AuditError(f"{self.key_file} is not a PEM private key") from None
            if not isinstance(loaded, Ed25519PrivateKey):
                raise AuditError(f"{self.key_file} is not an Ed25519 key")
            self._key = loaded
        return self._key

    @property
    def public(self) -> Ed25519PublicKey:
        return self.key.public_key()

    def public_pem(self) -> bytes:
        return self.public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, body: dict[str, Any]) -> Checkpoint:
        return Checkpoint(body, base64.b64encode(self.key.sign(text(body))).decode())


def load_public_key(pem: bytes, where: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        raise AuditError(f"{where} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise AuditError(f"{where} is not an Ed25519 key")
    return key


class CheckpointBook:
    """The folder of checkpoint files, one per checkpoint: ``<number>.json``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def write(self, checkpoint: Checkpoint) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.folder / f"{checkpoint.number:08d}.json"
        partial = path.with_suffix(".partial")
        partial.write_text(checkpoint.file_text())
        os.replace(partial, path)  # whole or not at all: a crash leaves no half checkpoint
        return path

    def read(self) -> tuple[list[Checkpoint], list[str]]:
        """Every checkpoint in number order, and a line for each file that is not one."""
        found, problems = [], []
        for path in sorted(self.folder.glob("*.json")) if self.folder.is_dir() else []:
            try:
                found.append(Checkpoint.parse(path.read_bytes(), str(path)))
            except CheckpointUnreadable as exc:
                problems.append(str(exc))
        return sorted(found, key=lambda c: c.number), problems

    def latest(self) -> Checkpoint | None:
        """The newest readable checkpoint; only its file is read (a seal happens after every command)."""
        names = sorted(self.folder.glob("*.json"), reverse=True) if self.folder.is_dir() else []
        for path in names:
            try:
                return Checkpoint.parse(path.read_bytes(), str(path))
            except CheckpointUnreadable:
                continue  # verification names it; sealing goes on from the newest good one
        return None

    def sealed_head(self, table: str) -> Head | None:
        latest = self.latest()
        return latest.head(table) if latest else None
