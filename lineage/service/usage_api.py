"""The product team's calls: the usage questions and the report, pseudonymous counts only.

Each answers what the `lineage usage` command of the same name answers, as JSON:
``{"title", "source", "columns", "rows": [{column: value}]}``. People are counted,
never named; nobody restricted, erased or objecting is in any figure.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from consumers.usage import queries
from consumers.usage.queries import Answer, Period, Source, Window
from consumers.usage.report import render
from lineage.service.auth import require, service_of
from lineage.service.tokens import Role

router = APIRouter(prefix="/api", tags=[Role.product.value], dependencies=[Depends(require(Role.product))])

From = Annotated[dt.date | None, Query(alias="from", description="First day (Europe/Amsterdam), included.")]
To = Annotated[dt.date | None, Query(alias="to", description="Last day (Europe/Amsterdam), included.")]
SourceQ = Annotated[Source, Query(description="rollup (fast) or raw (the events themselves; the same answer).")]
By = Annotated[Period, Query(description="day or week (Monday to Sunday).")]


def window(start: dt.date | None, end: dt.date | None) -> Window:
    if start and end and start > end:
        raise HTTPException(400, "from is after to")
    return Window(start, end)


def _answer(title: str, source: Source, answer: Answer) -> dict[str, Any]:
    def cell(v: Any) -> Any:
        return v.isoformat() if isinstance(v, dt.date) else v

    return {"title": title, "source": source.value, "columns": list(answer.columns),
            "rows": [{k: cell(v) for k, v in r.items()} for r in answer.records()]}  # fmt: skip


@router.get("/usage/components", summary="The most used components: uses, tenants and people using each")
def components(request: Request, start: From = None, end: To = None, limit: Annotated[int, Query(ge=1, le=1000)] = 10,
               source: SourceQ = Source.rollup) -> dict[str, Any]:  # fmt: skip
    store = service_of(request).parts.store
    return _answer("Most used components", source,
                   queries.top_components(store, window(start, end), limit, source))  # fmt: skip


@router.get("/usage/active", summary="Daily or weekly active users: distinct people who acted, and events")
def active(request: Request, start: From = None, end: To = None, by: By = Period.day,
           source: SourceQ = Source.rollup) -> dict[str, Any]:  # fmt: skip
    store = service_of(request).parts.store
    return _answer(f"Active users per {by.value}", source,
                   queries.active_users(store, by, window(start, end), source=source))  # fmt: skip


@router.get("/usage/adoption", summary="Component adoption: tenants per component, first and latest start")
def adoption(request: Request, tenant: str | None = None, source: SourceQ = Source.rollup) -> dict[str, Any]:
    store = service_of(request).parts.store
    title = f"Adoption by {tenant}" if tenant else "Component adoption"
    return _answer(title, source, queries.adoption(store, tenant, source=source))


@router.get("/usage/plans", summary="Usage per subscription type: tenants, people, events")
def plans(request: Request, start: From = None, end: To = None, source: SourceQ = Source.rollup) -> dict[str, Any]:
    store = service_of(request).parts.store
    return _answer("Usage by subscription type", source,
                   queries.by_subscription_type(store, window(start, end), source=source))  # fmt: skip


@router.get("/usage/trend/{component}", summary="One component over time: uses, people and tenants")
def trend(request: Request, component: str, start: From = None, end: To = None, by: By = Period.week,
          source: SourceQ = Source.rollup) -> dict[str, Any]:  # fmt: skip
    store = service_of(request).parts.store
    return _answer(f"{component} per {by.value}", source,
                   queries.trend(store, component, by, window(start, end), source=source))  # fmt: skip


@router.get("/usage/subscriptions", summary="Subscriptions started, renewed and ended per day or week and type")
def subscriptions(request: Request, start: From = None, end: To = None, by: By = Period.week,
                  source: SourceQ = Source.rollup) -> dict[str, Any]:  # fmt: skip
    store = service_of(request).parts.store
    return _answer(f"Subscriptions per {by.value}", source,
                   queries.subscriptions(store, by, window(start, end), source=source))  # fmt: skip


@router.get("/report", summary="The report of `lineage report` as one HTML page", response_class=HTMLResponse)
def report(request: Request, start: From = None, end: To = None,
           days: Annotated[int, Query(ge=1, le=3660)] = 90) -> HTMLResponse:  # fmt: skip
    page, _, _ = render(service_of(request).parts.store, days, window(start, end))
    return HTMLResponse(page)
