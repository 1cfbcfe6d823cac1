"""`POST /api/cli`: a `lineage` command sent by the CLI on this machine, run on the service's open store.

The command is the CLI's own, run in-process with the service's parts, so its
output and exit code are those it would have had with the store to itself. Only
the local role (``local.py``) may call it, and only for the commands that use the
store; they run one at a time, as they write to the CLI's consoles.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field
from typer.testing import CliRunner

from lineage.service.auth import Caller, require, service_of
from lineage.service.local import ROUTED
from lineage.service.tokens import Role

router = APIRouter(prefix="/api", tags=[Role.local.value])
Local = Annotated[Caller, Depends(require(Role.local))]


class CliCall(BaseModel):
    argv: list[str] = Field(examples=[["usage", "components", "--format", "json"]])
    operator: str | None = Field(default=None, description="LINEAGE_OPERATOR of the calling command.")
    width: int = Field(default=100, ge=40, le=500, description="The terminal's width.")


@router.post("/cli", summary="Run a store command of the `lineage` CLI on this machine through the service")
def run(request: Request, caller: Local, call: CliCall) -> dict[str, Any]:
    from lineage.cli import app
    from lineage.cli import context

    if not call.argv or call.argv[0] not in ROUTED:
        raise HTTPException(400, f"only these commands go through the service: {', '.join(sorted(ROUTED))}")
    service = service_of(request)
    with service.cli_lock:
        parts = service.parts.sharing(service.settings.model_copy(update={"operator": call.operator}))
        widths = context.console.width, context.err.width
        context.console.width = context.err.width = call.width
        given = context.given_parts.set(parts)
        try:
            result = CliRunner().invoke(app, call.argv, prog_name="lineage")
        finally:
            context.given_parts.reset(given)
            context.console.width, context.err.width = widths
    return {"exit_code": result.exit_code, "stdout": result.stdout, "stderr": result.stderr}
