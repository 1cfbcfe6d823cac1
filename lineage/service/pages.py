"""Pages for people: the product team's live report and the privacy officer's register, plus an operations page.

Server-rendered, no build step. A login turns a token into a session cookie
(``HttpOnly``, ``SameSite=Strict``, ``Secure`` behind TLS); every form carries the
session's anti-forgery value, and the login form a value of its own, so no other
site can post a form here on a user's behalf. The pages call the same parts as the
API, with the logged-in token's name as the operator in the access log.
"""

from __future__ import annotations

import datetime as dt
import html
import secrets
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from consumers.retention.run import resolve_as_of
from consumers.retention.status import last_run, rule_statuses
from consumers.rights.errors import RightsError
from consumers.rights.identity import Contact
from consumers.rights.register import Request as Registered
from consumers.usage.report import render
from lineage.service.auth import COOKIE, Caller, Session, caller_of_token, service_of
from lineage.service.rights_api import export_to
from lineage.service.tokens import Role
from schemas.models import ContactChannel, DataSubjectRight

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
LOGIN_COOKIE = "lineage_login"
DUE_SOON = dt.timedelta(days=7)
Text = Annotated[str, Form()]


def _cookie(request: Request, response: Response, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="strict", path="/",
                        secure=service_of(request).settings.cookie_secure)  # fmt: skip


def _session(request: Request) -> tuple[str, Session] | None:
    sid = request.cookies.get(COOKIE)
    session = request.app.state.sessions.get(sid)
    if session is None:
        return None
    request.state.caller = session.caller
    return sid or "", session


def _page(request: Request, name: str, session: Session | None, status: int = 200, **context: Any) -> HTMLResponse:
    context = {"caller": session.caller if session else None, "csrf": session.csrf if session else "",
               "roles": Role, "title": name.split(".")[0].title(), **context}  # fmt: skip
    return templates.TemplateResponse(request, name, context, status_code=status)


def _guard(request: Request, role: Role, csrf: str | None = None) -> Session | Response:
    """The session of a caller of ``role``, or the answer to give instead (log in, forbidden, forged)."""
    found = _session(request)
    if found is None:
        return RedirectResponse("/login", status_code=303)
    session = found[1]
    if csrf is not None and not secrets.compare_digest(csrf.encode(), session.csrf.encode()):
        return HTMLResponse("this form did not come from this site's pages; reload the page and try again", 403)
    if not session.caller.may(role):
        return HTMLResponse(f"this page needs the {role.value} role", 403)
    return session


@router.get("/login")
def login_form(request: Request) -> HTMLResponse:
    value = secrets.token_urlsafe(24)
    response = _page(request, "login.html", None, csrf=value, hours=service_of(request).settings.session_hours)
    _cookie(request, response, LOGIN_COOKIE, value, 600)
    return response


@router.post("/login")
def login(request: Request, token: Text, csrf: Text) -> Response:
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not secrets.compare_digest(csrf.encode(), expected.encode()):
        return HTMLResponse("the login form has expired; reload it and try again", 403)
    caller = caller_of_token(service_of(request), token.strip())
    if caller is None:
        response = _page(request, "login.html", None, 401, csrf=expected, error="that token is not known",
                         hours=service_of(request).settings.session_hours)  # fmt: skip
        return response
    sid, _ = request.app.state.sessions.open(caller)
    response = RedirectResponse("/", status_code=303)
    _cookie(request, response, COOKIE, sid, int(service_of(request).settings.session_hours * 3600))
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@router.post("/logout")
def logout(request: Request, csrf: Text) -> Response:
    found = _session(request)
    if found and secrets.compare_digest(csrf.encode(), found[1].csrf.encode()):
        request.app.state.sessions.close(found[0])
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/")
def home(request: Request) -> Response:
    found = _session(request)
    if found is None:
        return RedirectResponse("/login", status_code=303)
    caller: Caller = found[1].caller
    target = "/report" if caller.may(Role.product) else "/register" if caller.may(Role.privacy) else "/status"
    return RedirectResponse(target, status_code=303)


@router.get("/report")
def report_page(request: Request) -> Response:
    session = _guard(request, Role.product)
    if not isinstance(session, Session):
        return session
    from consumers.usage.queries import Window

    start = _date(request.query_params.get("from"))
    end = _date(request.query_params.get("to"))
    if start and end and start > end:
        start, end = end, start
    window = Window(start, end) if start or end else None
    above = (f'<form method="get" action="/report" id="range"><label>From <input type="date" name="from" '
             f'value="{html.escape(str(start or ""))}"></label> <label>To <input type="date" name="to" '
             f'value="{html.escape(str(end or ""))}"></label> <button>Show</button></form>')  # fmt: skip
    page, _, _ = render(service_of(request).parts.store, 90, window, above=above)
    return HTMLResponse(page)


def _who(text: str) -> Contact:
    """The register's forms take one field for the person: an e-mail, or else a phone number."""
    return Contact(email=text) if "@" in text else Contact(phone=text)


def _date(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _state(r: Registered, now: dt.datetime) -> str:
    if r.closed:
        return r.status.value
    if r.overdue(now):
        return "overdue"
    if r.extended_due_at is not None:
        return "extended"
    return "due" if r.deadline - now <= DUE_SOON else "open"


def _register(request: Request, session: Session, status: int = 200, **context: Any) -> HTMLResponse:
    requests = service_of(request).parts.rights_office(session.caller.name).read_register()
    now = dt.datetime.now(dt.UTC)
    states = {r.request_id: _state(r, now) for r in requests}
    counts = {k: sum(1 for s in states.values() if s == k) for k in ("open", "due", "overdue", "extended")}
    return _page(request, "register.html", session, status, requests=list(reversed(requests)), states=states,
                 counts=counts, rights=[r.value for r in DataSubjectRight],
                 channels=[c.value for c in ContactChannel], **context)  # fmt: skip


@router.get("/register")
def register_page(request: Request) -> Response:
    session = _guard(request, Role.privacy)
    return _register(request, session) if isinstance(session, Session) else session


def _act(request: Request, csrf: str, action) -> Response:
    """Run a register action for a logged-in privacy officer; the register again, with its outcome."""
    session = _guard(request, Role.privacy, csrf)
    if not isinstance(session, Session):
        return session
    office = service_of(request).parts.rights_office(session.caller.name)
    try:
        message, download = action(office, session)
    except (RightsError, ValueError) as exc:
        return _register(request, session, 400, error=str(exc))
    return _register(request, session, message=message, download=download)


@router.post("/register/receive")
def receive(request: Request, csrf: Text, email: Text, right: Text, channel: Text = "email",
            received: Annotated[str, Form()] = "") -> Response:  # fmt: skip
    def action(office, _):
        at = dt.datetime.combine(dt.date.fromisoformat(received), dt.time(12), dt.UTC) if received else None
        r = office.receive(_who(email), DataSubjectRight(right), at, ContactChannel(channel))
        return f"{r.request_id}: {r.right.value} received {r.received_at:%Y-%m-%d}, due {r.due_at:%Y-%m-%d}", None

    return _act(request, csrf, action)


@router.post("/register/export")
def export(request: Request, csrf: Text, email: Text, request_id: Annotated[str, Form(alias="request")]) -> Response:
    def action(_, session):
        done = export_to(request, session.caller, _who(email), request_id or None)
        return (f"{request_id}: {done['events']:,} events and {done['identifiers']:,} identifiers exported",
                f"/exports/{done['zip']}")  # fmt: skip

    return _act(request, csrf, action)


@router.get("/exports/{name}")
def download(request: Request, name: str) -> Response:
    session = _guard(request, Role.privacy)
    if not isinstance(session, Session):
        return session
    try:
        path = service_of(request).parts.rights_office(session.caller.name).exported(name)
    except RightsError as exc:
        return HTMLResponse(html.escape(str(exc)), 404)
    return FileResponse(path, media_type="application/zip", filename=name)


@router.post("/register/erase/confirm")
def confirm_erase(request: Request, csrf: Text, email: Text,
                  request_id: Annotated[str, Form(alias="request")]) -> Response:  # fmt: skip
    session = _guard(request, Role.privacy, csrf)
    if not isinstance(session, Session):
        return session
    return _page(request, "erase.html", session, email=email, request_id=request_id)


@router.post("/register/erase")
def erase(request: Request, csrf: Text, email: Text, confirm: Text,
          request_id: Annotated[str, Form(alias="request")]) -> Response:  # fmt: skip
    def action(office, _):
        if confirm.strip().lower() != email.strip().lower():
            raise ValueError("the e-mail or phone number typed to confirm is not the one to erase; nothing was erased")
        result = office.erase(_who(email), request_id or None)
        if result.already_erased_at is not None:
            return f"{result.request_id}: already erased on {result.already_erased_at:%Y-%m-%d}; nothing changed", None
        s = result.store
        purged = "dead-letter topic purged" if result.dead_letters else "dead-letter topic not purged yet (no broker)"
        return (f"{result.request_id}: {s.events_deleted:,} events and {s.identifiers_deleted:,} identifiers "
                f"deleted, {s.events_kept:,} events kept restricted; {purged}", None)  # fmt: skip

    return _act(request, csrf, action)


@router.post("/register/{request_id}/extend")
def extend(request: Request, request_id: str, csrf: Text, reason: Text, told_on: Text) -> Response:
    def action(office, _):
        told = dt.datetime.combine(dt.date.fromisoformat(told_on), dt.time(12), dt.UTC)
        r = office.extend(request_id, reason, told)
        return f"{r.request_id}: now due {r.deadline:%Y-%m-%d}", None

    return _act(request, csrf, action)


@router.post("/register/{request_id}/refuse")
def refuse(request: Request, request_id: str, csrf: Text, reason: Text) -> Response:
    def action(office, _):
        return f"{office.refuse(request_id, reason).request_id}: refused", None

    return _act(request, csrf, action)


@router.get("/status")
def status_page(request: Request) -> Response:
    session = _guard(request, Role.operator)
    if not isinstance(session, Session):
        return session
    service = service_of(request)
    store, policy = service.parts.store, service.parts.policy
    reachable, detail = service.broker_reachable()
    last = last_run(store)
    return _page(request, "status.html", session, consumer=service.consumer_state,
                 broker=f"{'reachable' if reachable else 'not reachable'}: {detail}",
                 last_run=f"{last[0]} at {last[1]:%Y-%m-%d %H:%M} UTC" if last else None,
                 next_run=f"{service.scheduler.next_run:%Y-%m-%d %H:%M} UTC" if service.scheduler else None,
                 statuses=rule_statuses(store, policy, resolve_as_of(None, allow_future=True)))  # fmt: skip
