"""The CLI and a running service on the same machine: how a command finds the service and is let in.

While it holds the store, the service writes ``<home>/serve/access.json``: its
address and a token made for this start, in a folder only its owner may enter
(0700) and a file only its owner may read (0600). A command that can read that
file could read the store's folder, which sits in the same home folder with the
same owner, so it is let in as the local role; a user who cannot is refused by
the file system before any token is asked for. The file is removed when the
service stops; one left behind by a service that died is recognised because
nothing answers at its address, and the command opens the store itself.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

# The commands that read or change the store: these go through the service when it holds it.
ROUTED = frozenset({"usage", "report", "sar", "dsr", "retention", "incident", "audit"})
PATH_OPTIONS = ("--out",)  # resolved here: the service does not share the command's working folder


class ServiceUnreachable(Exception):
    """The access file names a service that does not answer."""


@dataclass(frozen=True)
class Access:
    url: str
    token: str
    pid: int


def access_path(home: Path) -> Path:
    return home / "serve" / "access.json"


def write_access(home: Path, access: Access) -> Path:
    path = access_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    staged = path.with_name(f".access.{os.getpid()}")
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"url": access.url, "token": access.token, "pid": access.pid}, fh)
    os.replace(staged, path)
    return path


def remove_access(home: Path, access: Access) -> None:
    """Remove the file if it is still this service's (a later start may have written its own)."""
    found = read_access(home)
    if found is not None and found.token == access.token:
        access_path(home).unlink(missing_ok=True)


def read_access(home: Path) -> Access | None:
    """The running service's access, None when no service wrote one; PermissionError when it is not ours to read."""
    try:
        raw = json.loads(access_path(home).read_text(encoding="utf-8"))
        return Access(str(raw["url"]), str(raw["token"]), int(raw["pid"]))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        return None  # half written or damaged: no service to trust there


def absolute_paths(argv: list[str]) -> list[str]:
    out, after_option = [], False
    for arg in argv:
        if after_option:
            arg, after_option = str(Path(arg).expanduser().resolve()), False
        elif arg in PATH_OPTIONS:
            after_option = True
        elif any(arg.startswith(f"{o}=") for o in PATH_OPTIONS):
            option, _, value = arg.partition("=")
            arg = f"{option}={Path(value).expanduser().resolve()}"
        out.append(arg)
    return out


def forward(access: Access, argv: list[str], operator: str | None) -> tuple[int, str, str]:
    """Run the command in the service; its exit code, standard output and standard error.

    Raises ServiceUnreachable when nothing answers at the service's address.
    """
    body = json.dumps({"argv": absolute_paths(argv), "operator": operator,
                       "width": shutil.get_terminal_size((100, 24)).columns}).encode()  # fmt: skip
    call = urllib.request.Request(f"{access.url}/api/cli", data=body, method="POST", headers={
        "Authorization": f"Bearer {access.token}", "Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(call, timeout=None) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:300]
        return 1, "", f"error: the service at {access.url} refused the command (HTTP {exc.code}: {detail})\n"
    except (urllib.error.URLError, ConnectionError) as exc:
        raise ServiceUnreachable(f"nothing answers at {access.url}: {exc}") from None
    return int(answer["exit_code"]), answer["stdout"], answer["stderr"]


def route(argv: list[str], home: Path, operator: str | None) -> int | None:
    """Run a store command through the running service; None when it is not one or no service holds the store."""
    if not argv or argv[0] not in ROUTED or any(a in ("--help", "-h") for a in argv):
        return None
    try:
        access = read_access(home)
    except PermissionError:
        sys.stderr.write(f"error: a service holds the store, and {access_path(home)} is not yours to read; run "
                         "the command as the service's user, or use the API with a token\n")  # fmt: skip
        return 1
    if access is None:
        return None
    try:
        code, out, err = forward(access, argv, operator)
    except ServiceUnreachable:
        return None  # left behind by a service that died: the store is free, or says who holds it
    sys.stdout.write(out)
    sys.stderr.write(err)
    return code
