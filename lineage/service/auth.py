"""Who is calling, and may they: bearer tokens for the API, sessions for the pages.

The API takes only ``Authorization: Bearer <token>``, never a cookie, so a page
open in a browser cannot be made to call it from another site. The pages take a
session cookie (``HttpOnly``, ``SameSite=Strict``) made at login from a token, and
every form they post carries the session's own anti-forgery value.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from lineage.service.runtime import Service
from lineage.service.tokens import Role

COOKIE = "lineage_session"
bearer = HTTPBearer(auto_error=False, description="A token from `lineage token create`.")


@dataclass(frozen=True)
class Caller:
    name: str  # the token's name: the operator in the access log
    role: Role

    def may(self, role: Role) -> bool:
        return self.role in (role, Role.local)


def service_of(request: Request) -> Service:
    return request.app.state.service


def caller_of_token(service: Service, presented: str) -> Caller | None:
    if service.role_of_local(presented):
        return Caller(service.settings.operator or "local", Role.local)
    token = service.tokens.find(presented)
    return Caller(token.name, token.role) if token else None


def require(role: Role, *more: Role):
    """A dependency: 401 without a known token, 403 with a token of none of the roles."""
    roles = (role, *more)

    def check(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Caller:
        caller = caller_of_token(service_of(request), credentials.credentials) if credentials else None
        if caller is None:
            raise HTTPException(401, "a valid API token is needed (Authorization: Bearer ...)",
                                headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
        request.state.caller = caller
        if not any(caller.may(r) for r in roles):
            raise HTTPException(403, f"this call needs the {' or '.join(r.value for r in roles)} role; the token "
                                f"{caller.name!r} has the {caller.role.value} role")  # fmt: skip
        return caller

    return check


@dataclass
class Session:
    caller: Caller
    csrf: str
    expires: float


class Sessions:
    """The pages' logins, in memory: a restart logs everyone out, which is the safe way round."""

    def __init__(self, hours: float) -> None:
        self.seconds = hours * 3600
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def open(self, caller: Caller) -> tuple[str, Session]:
        sid = secrets.token_urlsafe(32)
        session = Session(caller, secrets.token_urlsafe(32), time.monotonic() + self.seconds)
        with self._lock:
            now = time.monotonic()
            self._sessions = {k: s for k, s in self._sessions.items() if s.expires > now}
            self._sessions[sid] = session
        return sid, session

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        with self._lock:
            session = self._sessions.get(sid)
        return session if session and session.expires > time.monotonic() else None

    def close(self, sid: str | None) -> None:
        with self._lock:
            self._sessions.pop(sid or "", None)
