"""The operator's calls: retention, the consumer and the broker, readiness and metrics."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from consumers.retention.run import resolve_as_of
from consumers.retention.status import last_run, rule_statuses
from lineage.service.auth import Caller, require, service_of
from lineage.service.metrics import exposition, lag
from lineage.service.tokens import Role
from schemas.values import as_utc

router = APIRouter(tags=[Role.operator.value])
Operator = Annotated[Caller, Depends(require(Role.operator))]
AsOf = Annotated[dt.datetime | None, Query(description="Work out what is due as of this moment (UTC; default: now).")]


@router.get("/readyz", summary="Ready: the broker reachable, the store open, the consumer holding partitions")
def readyz(request: Request, caller: Operator) -> JSONResponse:
    service = service_of(request)
    broker, broker_detail = service.broker_reachable()
    store, store_detail = service.store_open()
    state = service.consumer_state
    assigned = bool(state.assigned) or state.state == "off"
    body = {"ready": broker and store and assigned,
            "broker": {"reachable": broker, "detail": broker_detail},
            "store": {"open": store, "detail": store_detail},
            "consumer": {"state": state.state, "partitions": len(state.assigned), "detail": state.detail}}  # fmt: skip
    return JSONResponse(body, status_code=200 if body["ready"] else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
def metrics(request: Request, caller: Operator) -> PlainTextResponse:
    body, content_type = exposition(service_of(request))
    return PlainTextResponse(body, media_type=content_type)


@router.get("/api/consumer", summary="The tagging consumer: state, partitions, counts, lag")
def consumer(request: Request, caller: Operator) -> dict[str, Any]:
    service = service_of(request)
    s = service.consumer_state
    return {"state": s.state, "detail": s.detail, "restarts": s.restarts,
            "partitions": [f"{t}/{p}" for t, p in s.assigned], "consumed": s.consumed, "stored": s.stored,
            "dead_lettered": dict(s.dead_lettered), "suppressed": dict(s.suppressed),
            "lag": {f"{t}/{p}": n for (t, p), n in sorted(lag(service).items())}}  # fmt: skip


@router.get("/api/broker", summary="The Kafka broker the service uses, and whether it answers")
def broker(request: Request, caller: Operator) -> dict[str, Any]:
    reachable, detail = service_of(request).broker_reachable()
    return {"reachable": reachable, "detail": detail}


@router.get("/api/retention/status", summary="Per rule: rows kept, due now, due in 30 days, oldest kept")
def retention_status(request: Request, caller: Operator, as_of: AsOf = None) -> dict[str, Any]:
    service = service_of(request)
    store, policy = service.parts.store, service.parts.policy
    when = resolve_as_of(as_utc(as_of), allow_future=True)
    last = last_run(store)
    scheduler = service.scheduler
    return {"as_of": when.isoformat(), "policy_version": policy.version,
            "rules": [{**s.__dict__, "oldest_kept": s.oldest_kept.isoformat() if s.oldest_kept else None}
                      for s in rule_statuses(store, policy, when)],
            "last_run": {"run_id": last[0], "finished_at": last[1].isoformat()} if last else None,
            "next_scheduled_run": scheduler.next_run.isoformat() if scheduler else None}  # fmt: skip


@router.get("/api/retention/plan", summary="Dry run: what a retention run would remove, changing nothing")
def retention_plan(request: Request, caller: Operator, as_of: AsOf = None) -> dict[str, Any]:
    plan = service_of(request).parts.retention_run(caller.name).plan(as_utc(as_of))
    return {"as_of": plan.as_of.isoformat(), "facts": plan.facts,
            "rules": [{"rule": r.rule, "action": r.action, "scopes": r.scopes, "events": r.events,
                       "identifiers": r.identifiers, "usage_daily": r.rollups} for r in plan.rules]}  # fmt: skip


@router.post("/api/retention/run", summary="Run retention now: delete what is due; the counts are recorded")
def retention_run(request: Request, caller: Operator, as_of: AsOf = None) -> dict[str, Any]:
    service = service_of(request)
    if as_of is not None and as_utc(as_of) > dt.datetime.now(dt.UTC):
        raise HTTPException(400, "a retention run cannot look ahead: as_of is in the future")
    report = service.parts.retention_run(caller.name).execute(as_utc(as_of))
    return {"run_id": report.run_id, "as_of": report.as_of.isoformat(), "seconds": round(report.seconds, 3),
            "steps": [{"step": s.step, "action": s.action, "scopes": s.scopes, "rows": s.rows}
                      for s in report.steps],
            "places": [p.public() for p in report.places(service.parts.topics(), dt.datetime.now(dt.UTC))]}  # fmt: skip
