"""`lineage audit`: verify the audit chains against their signed checkpoints, export a range to verify elsewhere."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lineage import exits
from lineage.cli.context import LineageTyper, Operator, console, err, fail, parts
from schemas.values import as_utc

if TYPE_CHECKING:
    from consumers.audit.checkpoints import Checkpoint, Signer
    from lineage.wiring import Parts

app = LineageTyper(help="The audit chain: every row of the access log, the request register, erasure and retention "
                   "results, rectifications and incidents is hash-linked to the row before it, and the chains' heads "
                   "are sealed in signed checkpoints kept outside the store.", no_args_is_help=True)  # fmt: skip

_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]


def _checkpoints(p: Parts) -> tuple[list[Checkpoint], list[str]]:
    """The folder's checkpoints, with the topic's where a broker answers: a checkpoint missing from one is told."""
    found, problems = p.checkpoints.read()
    topic = p.checkpoint_topic
    if topic is None:
        return found, problems
    try:
        published, unreadable = topic.read()
    except Exception as exc:  # the broker is away: the folder alone is verified, and that is said
        err.print(f"[yellow]warning:[/] the checkpoint topic was not read ({type(exc).__name__}); the folder's "
                  "checkpoints alone are used")  # fmt: skip
        return found, problems
    problems += unreadable
    mine = {c.number: c for c in found}
    sent = topic.published()
    for cp in published:
        if cp.number not in mine:
            problems.append(f"checkpoint {cp.number} is on topic {topic.topic} but not in {p.checkpoints.folder}: "
                            "it was deleted from the folder")  # fmt: skip
            mine[cp.number] = cp
        elif mine[cp.number].digest() != cp.digest():
            problems.append(f"checkpoint {cp.number} differs between {p.checkpoints.folder} and topic {topic.topic}")
    on_topic = {c.number for c in published}
    problems += [f"checkpoint {n} was sent to topic {topic.topic} but is not on it" for n in mine
                 if n <= sent and n not in on_topic]  # fmt: skip
    return [mine[n] for n in sorted(mine)], problems


def _signer(p: Parts) -> Signer:
    """The signing key the checkpoints were sealed with; a clear error when there is none."""
    signer = p.sealer.signer
    if not signer.key_file.exists():
        raise fail(f"no audit signing key at {signer.key_file}: nothing was ever sealed with it "
                   "(set LINEAGE_AUDIT_KEY_FILE to the key that was)")  # fmt: skip
    return signer


def _count(n: int, thing: str) -> str:
    return f"{n:,} {thing}" + ("" if n == 1 else "s")


@app.command("verify")
def verify(
    since: Annotated[dt.datetime | None, typer.Option("--from", help="Verify only rows dated from here on (UTC); "
                                                      "default: every row.", formats=_FORMATS)] = None,  # fmt: skip
) -> None:
    """Recompute every chain against the checkpoints; print the first row that does not match (exit 8)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from consumers.audit.chains import terms_of
    from consumers.audit.verify import Verifier

    p = parts()
    store = p.store  # a store that does not answer is told before anything else
    checkpoints, problems = _checkpoints(p)
    signer = _signer(p)
    verifier = Verifier(store, terms_of(p.policy), signer.public, checkpoints)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console,
                  transient=True) as bar:  # fmt: skip
        task = bar.add_task("verifying")

        def progress(table: str, done: int, total: int) -> None:
            bar.update(task, description=table, completed=done, total=total)

        result = verifier.run(as_utc(since) if since else None, progress, problems)
    if not result.ok:
        first = result.findings[0]
        more = f" ({len(result.findings) - 1} more findings)" if len(result.findings) > 1 else ""
        for f in result.findings[1:20]:
            err.print(f"  also: {f.line()}", soft_wrap=True, markup=False)
        raise fail(f"NOT VERIFIED: {first.line()}{more}", code=exits.AUDIT)
    up_to = f"{result.up_to:%Y-%m-%d %H:%M:%S} UTC" if result.up_to else "no checkpoint yet"
    console.print(f"verified {result.rows:,} rows in {result.chains} chains up to {up_to} (key {result.key}, "
                  f"{_count(result.checkpoints, 'checkpoint')}, {result.seconds:.1f} s)")  # fmt: skip
    for label, counts in (("gone at the end of their term", result.expired), ("removed by an erasure, as it "
                          "recorded", result.erased), ("not sealed yet (the next seal covers them)", result.unsealed),
                          ("written before the chain existed, not covered", result.unchained)):  # fmt: skip
        if counts:
            console.print(f"  {label}: " + ", ".join(f"{t} {n:,}" for t, n in sorted(counts.items())))


@app.command("export")
def export(
    start: Annotated[dt.datetime, typer.Option("--from", help="First date of the rows (UTC).", formats=_FORMATS)],
    end: Annotated[dt.datetime, typer.Option("--to", help="Last date of the rows (UTC); a date alone means its "
                                             "start.", formats=_FORMATS)],  # fmt: skip
    out: Annotated[Path, typer.Option("--out", help="A new (or empty) folder for the rows, checkpoints, public key "
                                      "and verify_audit.py.")],  # fmt: skip
    operator: Operator = None,
) -> None:
    """Write the chains' rows dated --from to --to, and what verifies them elsewhere (README, The audit chain)."""
    from consumers.audit.chains import terms_of
    from consumers.audit.errors import AuditError
    from consumers.audit.export import export_audit
    from consumers.rights.access_log import AccessLog, Action

    p = parts()
    store = p.store  # a store that does not answer is told before anything else
    checkpoints, _ = p.checkpoints.read()
    signer = _signer(p)
    try:
        done = export_audit(store, checkpoints, signer.public_pem(), terms_of(p.policy), as_utc(start), as_utc(end),
                            out.expanduser().resolve())  # fmt: skip
    except AuditError as exc:
        raise fail(str(exc), code=exits.USAGE) from None
    # The rows name people by subject id: handing them out is itself logged.
    AccessLog(store, operator or p.settings.operator or "audit").record(
        Action.audit_export, "", "", f"{sum(done.rows.values())} audit rows {start:%Y-%m-%d} to {end:%Y-%m-%d}")
    chains = sum(1 for n in done.rows.values() if n)
    console.print(f"exported {_count(sum(done.rows.values()), 'row')} of {_count(chains, 'chain')} "
                  f"and {_count(done.checkpoints, 'checkpoint')} to {done.folder}; verify there with "
                  "`python3 verify_audit.py`")  # fmt: skip
    if done.unsealed:
        console.print(f"  not sealed yet, so not vouched for by a checkpoint: the newest rows of "
                      f"{', '.join(done.unsealed)}")  # fmt: skip


@app.command("seal")
def seal() -> None:
    """Seal the chains now (every command that writes audit rows seals at its end; the service at an interval)."""
    cp = parts().sealer.seal(force=True)
    if cp is None:  # not when forced; said rather than assumed
        raise fail("nothing was sealed")
    heads = ", ".join(f"{t} {s['head']['seq']}" for t, s in sorted(cp.body["chains"].items()))
    console.print(f"checkpoint {cp.number} sealed at {cp.body['sealed_at']}: {heads}")


@app.command("keygen")
def keygen() -> None:
    """Create the signing key if there is none (LINEAGE_AUDIT_KEY_FILE); print its fingerprint."""
    from consumers.audit.checkpoints import Signer, fingerprint

    signer = Signer(parts().settings.audit_key)
    created = signer.ensure()
    console.print(f"{'created' if created else 'kept'} {signer.key_file} (key {fingerprint(signer.public)})")
