"""The HTTP application: the API (OpenAPI at /openapi.json, /docs), the pages, and /healthz.

Every API path belongs to one role, named by its OpenAPI tag (product, privacy,
operator, or local for the CLI on this machine); the role matrix test reads the
tags. Only /healthz answers without a token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool

from lineage.service import cli_api, errors, incidents_api, metrics, operations_api, pages, rights_api, usage_api
from lineage.service.auth import Sessions
from lineage.service.runtime import Service

DESCRIPTION = """Engage Lineage's service: the tagging consumer, the retention schedule, and this API.

Authenticate with `Authorization: Bearer <token>`; make a token with
`lineage token create --role product|privacy|operator --name NAME`. Each path
needs the role of its tag. Calls that read or change personal data are written
to the access log with the token's name as the operator."""


def build_app(service: Service) -> FastAPI:
    app = FastAPI(title="Engage Lineage", version="1", description=DESCRIPTION,
                  openapi_tags=[{"name": "product", "description": "Usage questions and the report: "
                                 "pseudonymous counts only."},
                                {"name": "privacy", "description": "Data-subject requests (GDPR Art. 15-21)."},
                                {"name": "operator", "description": "Retention, consumer and broker status, "
                                 "readiness and metrics."},
                                {"name": "local", "description": "The `lineage` CLI on this machine."}])  # fmt: skip
    app.state.service = service
    app.state.sessions = Sessions(service.settings.session_hours)
    metrics.install(service)
    errors.install(app)

    @app.middleware("http")
    async def seal_after(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        # A call that wrote audit rows (a rights call, a register read) is sealed as it ends, as a command is.
        response = await call_next(request)
        await run_in_threadpool(service.seal)
        return response

    @app.get("/healthz", tags=["health"], summary="Alive (no token needed)")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    for router in (usage_api.router, rights_api.router, incidents_api.router, incidents_api.privacy_router,
                   operations_api.router, cli_api.router, pages.router):
        app.include_router(router)
    return app
