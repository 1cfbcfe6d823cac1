"""The retention run: removes what event-triggered terms say must go, and records it in counts.

Rule by rule, the plan is worked out afresh and executed: first the identifiers
of the rows (their query reads the events), then the rows themselves, deleted
or with the people taken out, then the rollup rows they were counted in. Each step is a mutation that either happened or
did not, and a fresh plan only finds what is still there, so a run that is
interrupted and started again ends where one uninterrupted run would. Counts
are taken just before each mutation; rows a consumer stores between the two
are caught by the next run.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from consumers.audit.trail import AuditTrail
from consumers.policy.model import Policy
from consumers.retention.errors import AsOfOutOfRange, FutureAsOf
from consumers.retention.plan import (
    Plan,
    Planner,
    RulePlan,
    anonymised_columns,
    events_due,
    identifiers_due,
    rollup_due,
)  # fmt: skip
from consumers.retention.tables import RUN_COLUMNS
from consumers.store.places import Place, Topics
from consumers.store.store import Store

_SYNC = {"mutations_sync": 2}
# The tables a run deletes from, whose replaced files must leave the disk before it reports done.
FILED_TABLES = ("events", "identifiers", "usage_daily", "retention_facts")
# Clock difference tolerated between the caller and the store before an as-of counts as the future.
_CLOCK_SLACK = dt.timedelta(minutes=5)
FACTS_STEP = "retention_facts"

# Called before each step with (what it is about to do, steps done, steps in all).
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class StepDone:
    step: str
    action: str
    scopes: int
    rows: dict[str, int]


@dataclass
class RunReport:
    run_id: str
    as_of: dt.datetime
    steps: list[StepDone] = field(default_factory=list)
    seconds: float = 0.0
    files_left: list[tuple[str, str]] = field(default_factory=list)  # (table, part) still on disk, replaced

    def removed(self, step: str) -> dict[str, int]:
        return next((s.rows for s in self.steps if s.step == step), {})

    def places(self, topics: Topics | None, now: dt.datetime) -> list[Place]:
        """Per place the data lives: what this run removed, what remains, and until when."""
        totals: dict[str, int] = {}
        for s in self.steps:
            for table, n in s.rows.items():
                totals[table] = totals.get(table, 0) + n
        removed = sum(n for t, n in totals.items() if t != "retention_facts")
        found = [Place(f"store table {t}", n, 0 if not self.files_left else None) for t, n in sorted(totals.items())]
        if self.files_left:
            tables = ", ".join(sorted({t for t, _ in self.files_left}))
            found.append(Place("store files", None, len(self.files_left), f"replaced parts of {tables} not yet dropped "
                               "from disk; the next run, or any process holding the store a few seconds, drops them"))
        else:
            found.append(Place("store files", None, 0, ""))
        if topics is not None and removed:
            until = f"{topics.raw_until(now):%Y-%m-%d}, topic retention"
            found += [Place(f"raw events topic {t}", None, None, f"the removed rows' messages: until {until}")
                      for t in topics.raw]  # fmt: skip
            found.append(Place(f"dead-letter topic {topics.dead_letters}", None, None,
                               f"any refused message of theirs: until {topics.dead_letters_until(now):%Y-%m-%d}, "
                               "topic retention"))  # fmt: skip
        return found


# Terms run years back and forward from the moment asked about; the store holds 1900 to 2299.
EARLIEST_AS_OF = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST_AS_OF = dt.datetime(2200, 12, 31, 23, 59, 59, tzinfo=dt.UTC)


def resolve_as_of(as_of: dt.datetime | None, allow_future: bool) -> dt.datetime:
    now = dt.datetime.now(dt.UTC)
    if as_of is None:
        return now
    as_of = as_of if as_of.tzinfo else as_of.replace(tzinfo=dt.UTC)
    if not EARLIEST_AS_OF <= as_of <= LATEST_AS_OF:
        raise AsOfOutOfRange(f"--as-of {as_of.date().isoformat()} is outside {EARLIEST_AS_OF:%Y-%m-%d} to "
                             f"{LATEST_AS_OF:%Y-%m-%d}, the moments retention can count its terms from")  # fmt: skip
    if not allow_future and as_of > now + _CLOCK_SLACK:
        raise FutureAsOf(f"--as-of {as_of:%Y-%m-%d %H:%M} is in the future: a run would delete data before its "
                         "term has ended. Use --dry-run to see what will be due then.")  # fmt: skip
    return as_of


class RetentionRun:
    def __init__(self, store: Store, policy: Policy, operator: str = "retention", topics: Topics | None = None) -> None:
        self.store = store
        self.policy = policy
        self.operator = operator
        self.planner = Planner(store, policy)
        self.topics = topics
        self.files_timeout = 60.0

    def plan(self, as_of: dt.datetime | None = None) -> Plan:
        """What a run as of ``as_of`` would remove (a dry run); changes nothing."""
        return self.planner.plan(resolve_as_of(as_of, allow_future=True))

    def steps(self) -> int:
        return 3 * len(self.policy.retention_by_event()) + 2

    def execute(self, as_of: dt.datetime | None = None, progress: Progress | None = None) -> RunReport:
        as_of = resolve_as_of(as_of, allow_future=False)
        report = RunReport(uuid.uuid4().hex[:12], as_of)
        started = time.monotonic()
        total, done = self.steps(), 0

        def step(description: str) -> None:
            nonlocal done
            if progress:
                progress(description, done, total)
            done += 1

        before = self.store.parts(FILED_TABLES, active=True)
        for name in self.policy.retention_by_event():
            began = dt.datetime.now(dt.UTC)
            plan = self.planner.rule_plan(name, as_of)
            step(f"{name}: identifiers")
            self._identifiers(plan)
            step(f"{name}: events ({plan.action})")
            self._events(plan)
            step(f"{name}: usage rollups")
            self._rollups(plan)
            rows = {"events": plan.events, "identifiers": plan.identifiers, "usage_daily": plan.rollups}
            self._record(report, StepDone(name, plan.action, plan.scopes, rows), began)
        began = dt.datetime.now(dt.UTC)
        closed = self.planner.closed_scopes(as_of)
        step("retention facts no rule needs any more")
        pruned = self._prune(closed)
        self._record(report, StepDone(FACTS_STEP, "delete", sum(map(len, closed.values())), {"retention_facts": pruned}),
                     began)  # fmt: skip
        # Done only when the deleted values are gone from the store's files too, not just hidden.
        step("the replaced files dropped from disk")
        report.files_left = sorted(self.store.wait_until_dropped(before, self.files_timeout))
        if progress:
            progress("done", total, total)
        report.seconds = time.monotonic() - started
        return report

    def _identifiers(self, plan: RulePlan) -> None:
        if plan.identifiers:
            rule = self.policy.retention[plan.rule]
            self.store.command(f"ALTER TABLE identifiers DELETE WHERE {identifiers_due(rule)}", plan.parameters(), _SYNC)

    def _events(self, plan: RulePlan) -> None:
        if not plan.events:
            return
        rule = self.policy.retention[plan.rule]
        if plan.action == "delete":
            self.store.command(f"ALTER TABLE events DELETE WHERE {events_due(rule)}", plan.parameters(), _SYNC)
        else:
            self.store.command(f"ALTER TABLE events UPDATE {anonymised_columns(rule)} WHERE {events_due(rule)}",
                               plan.parameters(), _SYNC)  # fmt: skip

    def _rollups(self, plan: RulePlan) -> None:
        rollup = rollup_due(self.policy.retention[plan.rule])
        if plan.rollups and rollup:
            self.store.command(f"ALTER TABLE usage_daily DELETE WHERE {rollup}", plan.parameters(), _SYNC)

    def _prune(self, closed: dict[str, tuple[str, ...]]) -> int:
        pruned = 0
        for kind, scopes in closed.items():
            p = {"k": kind, "s": list(scopes)}
            where = "scope_kind = {k:String} AND has({s:Array(String)}, scope)"
            n = int(self.store.scalar(f"SELECT count() FROM retention_facts WHERE {where}", p) or 0)
            if n:
                self.store.command(f"ALTER TABLE retention_facts DELETE WHERE {where}", p, _SYNC)
            pruned += n
        return pruned

    def _record(self, report: RunReport, done: StepDone, began: dt.datetime) -> None:
        report.steps.append(done)
        row = (report.run_id, report.as_of, done.step, done.action, done.scopes, done.rows, self.policy.version,
               self.operator, began, dt.datetime.now(dt.UTC))  # fmt: skip
        AuditTrail.of(self.store).append("retention_runs", RUN_COLUMNS, [row])
