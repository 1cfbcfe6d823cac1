"""One self-contained HTML page of charts for the product team.

Plotly draws the charts; its JavaScript is written into the page once, so the
file opens anywhere without a network. Every figure comes from the rollups or
from counts, never from a name or an e-mail, and leaves out everyone restricted,
erased or objecting. Days are Europe/Amsterdam days.
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass
from pathlib import Path

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from consumers.policy.local_time import TIME_ZONE, today
from consumers.store.store import Store
from consumers.usage.queries import (
    Period,
    Window,
    active_users,
    adoption,
    top_components,
)

TOP = 6  # components drawn on their own; the rest are summed as "other"
_LAYOUT = dict(template="plotly_white", height=380, margin=dict(l=60, r=20, t=50, b=50),
               legend=dict(orientation="h", y=-0.2))  # fmt: skip


@dataclass(frozen=True)
class Written:
    path: Path
    bytes: int
    charts: int
    last_day: dt.date


def _last_day(store: Store) -> dt.date:
    day = store.scalar("SELECT max(day) FROM usage_daily")
    if day and day.year > 1970:
        return day
    return today()


def _chart(fig: go.Figure, name: str, title: str, empty: bool) -> str:
    fig.update_layout(title=title, **_LAYOUT)
    if empty:
        fig.add_annotation(text="no data in this period", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    div = fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"chart-{name}",
                      config={"displaylogo": False, "responsive": True})  # fmt: skip
    return f'<section class="chart" data-chart="{name}">{div}</section>'


def active_users_chart(store: Store, window: Window) -> str:
    rows = active_users(store, Period.day, window).rows
    fig = go.Figure(go.Scatter(x=[str(d) for d, _, _ in rows], y=[u for _, u, _ in rows], mode="lines+markers",
                               name="active users"))  # fmt: skip
    fig.update_yaxes(title="people", rangemode="tozero")
    return _chart(fig, "active-users", "Active users per day", not rows)


def component_usage_chart(store: Store, window: Window) -> str:
    top = [c for c, *_ in top_components(store, window, limit=TOP).rows]
    rows = store.rows(
        "SELECT toMonday(day) AS week, if(has({top:Array(String)}, component), component, 'other') AS c, sum(uses)"
        f" FROM usage_daily WHERE component != '' AND {window.where('day')}"
        " GROUP BY week, c ORDER BY week, c",
        {**window.parameters(), "top": top},
    )
    fig = go.Figure()
    for component in [*top, "other"]:
        points = [(str(w), n) for w, c, n in rows if c == component]
        if points:
            fig.add_trace(go.Bar(x=[w for w, _ in points], y=[n for _, n in points], name=component))
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title="uses per week (weeks start on Monday)")
    return _chart(fig, "component-usage", "Component usage per week", not rows)


def adoption_chart(store: Store) -> str:
    rows = adoption(store).rows
    fig = go.Figure(go.Bar(x=[n for _, n, _, _ in rows], y=[c for c, *_ in rows], orientation="h",
                           name="tenants using it"))  # fmt: skip
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title="tenants that have used the component")
    return _chart(fig, "adoption", "Adoption per component", not rows)


def purposes_chart(store: Store, window: Window) -> str:
    rows = store.rows(
        "SELECT purpose, basis, count() FROM events ARRAY JOIN purposes AS purpose, legal_bases AS basis"
        f" WHERE {window.where(f'toDate(occurred_at, {_tz()})')} GROUP BY purpose, basis ORDER BY purpose, basis",
        window.parameters(),
    )
    fig = go.Figure()
    for basis in sorted({b for _, b, _ in rows}):
        points = [(p, n) for p, b, n in rows if b == basis]
        fig.add_trace(go.Bar(y=[p.replace("_", " ") for p, _ in points], x=[n for _, n in points], orientation="h",
                             name=basis.replace("_", " ")))  # fmt: skip
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title="events stored (an event with two purposes counts for each)")
    return _chart(fig, "purposes", "Events by purpose and legal basis", not rows)


def dead_letter_chart(store: Store, window: Window) -> str:
    rows = store.rows(
        f"SELECT d, sum(stored), sum(dead) FROM ("
        f" SELECT toDate(ingested_at, {_tz()}) AS d, count() AS stored, 0 AS dead FROM events GROUP BY d"
        f" UNION ALL SELECT toDate(dead_lettered_at, {_tz()}) AS d, 0, count() FROM dead_letters GROUP BY d)"
        f" WHERE {window.where('d')} GROUP BY d ORDER BY d",
        window.parameters(),
    )
    rates = [(str(d), 100 * dead / (stored + dead)) for d, stored, dead in rows if stored + dead]
    fig = go.Figure(go.Bar(x=[d for d, _ in rates], y=[r for _, r in rates], name="dead-lettered"))
    fig.update_xaxes(type="date", tickformat="%d %b %Y", dtick=86_400_000 * max(1, len(rates) // 10))
    fig.update_yaxes(title="% of messages processed that day", rangemode="tozero")
    return _chart(fig, "dead-letters", "Dead-letter rate per day of processing", not rates)


def _tz() -> str:
    return f"'{TIME_ZONE}'"


def charts(store: Store, window: Window) -> list[str]:
    """The report's charts over ``window`` (adoption covers all stored time), as HTML sections."""
    return [active_users_chart(store, window), component_usage_chart(store, window), adoption_chart(store),
            purposes_chart(store, window), dead_letter_chart(store, window)]  # fmt: skip


def render(store: Store, days: int = 90, window: Window | None = None, above: str = "") -> tuple[str, int, dt.date]:
    """The page, Plotly inline (it opens without a network): ``days`` back from the last event, or ``window``
    where it is given; ``above`` is HTML put above the charts (the service's date form)."""
    last = _last_day(store)
    if window is None or window.start is None or window.end is None:
        end = window.end if window and window.end else last
        window = Window(window.start if window and window.start else end - dt.timedelta(days=days - 1), end)
    drawn = charts(store, window)
    period = f"{window.start:%d %B %Y} to {window.end:%d %B %Y}"
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Engage Process usage, {html.escape(period)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #1f2933; }}
header p {{ color: #52606d; }}
.chart {{ margin: 1.5rem 0; border: 1px solid #e4e7eb; border-radius: 6px; padding: 0.5rem; }}
</style>
<script>{get_plotlyjs()}</script>
</head>
<body>
<header>
<h1>How Engage Process is used</h1>
<p>{html.escape(period)}, days in {TIME_ZONE}. Product-insight events only (legitimate interest, activity B2);
people who are restricted, erased or objected are left out of every figure, and people are counted,
never named. Adoption covers all stored time.</p>
</header>
{above}
{"".join(drawn)}
</body>
</html>
"""
    return page, len(drawn), last


def write_report(store: Store, out: Path, days: int = 90) -> Written:
    page, charts, last = render(store, days)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return Written(out, out.stat().st_size, charts, last)
