"""How a failure is answered over HTTP: one JSON line with the error's words, never a traceback.

The same map as the CLI's exit codes (``lineage.exits``): refused input is a
400, a store or broker that does not answer a 503, anything nobody foresaw a 500
whose trace goes to the log file only.
"""

from __future__ import annotations

import logging
import time

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from lineage import exits

log = logging.getLogger(__name__)

_STATUS = {exits.USAGE: 400, exits.STORE: 503, exits.BROKER: 503, exits.NOT_RUNNING: 503, exits.ERROR: 500,
           exits.RECOVERY: 500, exits.NO_PARTITIONS: 503}  # fmt: skip


def status_of(exc: BaseException) -> tuple[int, str]:
    code = exits.code_of(exc)
    if code is None:
        return 500, f"unexpected {type(exc).__name__}: {exits.message_of(exc)} (the trace is in the service's log)"
    return _STATUS.get(code, 500), exits.message_of(exc)


def install(app: FastAPI) -> None:
    calls = logging.getLogger("lineage.service.calls")

    @app.middleware("http")
    async def answer_and_log(request: Request, call_next):
        # Every call is logged with the caller's token name; a failure becomes one JSON line here.
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception as exc:
            status, message = status_of(exc)
            if status == 500:
                log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
            response = JSONResponse({"detail": message}, status_code=status)
        caller = getattr(request.state, "caller", None)
        calls.info("%s %s %s -> %d in %.0f ms", caller.name if caller else "-", request.method, request.url.path,
                   response.status_code, (time.perf_counter() - started) * 1000)  # fmt: skip
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        where = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or e['loc'][0]}: {e['msg']}"
                          for e in exc.errors())  # fmt: skip
        return JSONResponse({"detail": where}, status_code=422)
