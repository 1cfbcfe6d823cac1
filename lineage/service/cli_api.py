"""`POST /api/cli`: a `lineage` command sent by the CLI on this machine, run on the service's open store.

Only the local role (``local.py``) may call it, and only for the commands that use
the store. The service runs the command with the runner the CLI gave it when it
started the service (``lineage.cli.through``), with the service's parts and the
calling command's operator.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

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
    if not call.argv or call.argv[0] not in ROUTED:
        raise HTTPException(400, f"only these commands go through the service: {', '.join(sorted(ROUTED))}")
    service = service_of(request)
    if service.commands is None:
        raise HTTPException(400, "this service was started without the CLI's commands")
    parts = service.parts.sharing(service.settings.model_copy(update={"operator": call.operator}))
    code, out, err = service.commands(parts, call.argv, call.width)
    return {"exit_code": code, "stdout": out, "stderr": err}
