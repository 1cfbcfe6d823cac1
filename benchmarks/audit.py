"""What the audit chain costs: appending rows to a chain, sealing, and verifying 1M rows.

``python -m benchmarks.audit [--rows N] [--out NAME]``. On an embedded store of its
own (a temporary folder): N access-log rows (default 1,000,000) appended through the
same trail the access log writes through, in batches, dated over the last four years
(inside the five-year term, so none is past it); a checkpoint every 100,000 rows;
then a full verification, one with --from (the last 30 days), and an export of those
30 days verified by its standalone script. Figures printed and written to
benchmarks/results/<NAME>.md and .json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from consumers.audit.chains import terms_of
from consumers.audit.checkpoints import CheckpointBook, Signer
from consumers.audit.export import export_audit
from consumers.audit.seal import Sealer
from consumers.audit.trail import AuditTrail
from consumers.audit.verify import Verifier
from consumers.policy.loader import load_policy
from lineage.wiring import open_store

RESULTS = Path(__file__).parent / "results"
_COLUMNS = ("at", "operator", "action", "request_id", "subject_id", "detail")
_ACTIONS = ("export", "read_identifiers", "register_request", "read_register", "erase", "rectify", "locate")


def _rows(start: int, n: int, total: int, begin: dt.datetime, span: dt.timedelta) -> list[tuple]:
    out = []
    for i in range(start, start + n):
        at = begin + span * (i / total)
        out.append((at, f"officer{i % 7}@engage.test", _ACTIONS[i % len(_ACTIONS)], f"DSR-{i // 5:08d}",
                    secrets.token_hex(32), f"{i % 400} events, {i % 9} identifiers -> export-{i:08d}.zip"))
    return out


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(total: int, batch: int = 10_000, seal_every: int = 100_000) -> dict:
    policy = load_policy()
    work = Path(tempfile.mkdtemp(prefix="audit-bench-"))
    store = open_store(f"chdb://{work / 'store'}", "audit_bench", policy)
    trail = AuditTrail.of(store)
    sealer = Sealer(trail, Signer(work / "key.pem"), CheckpointBook(work / "checkpoints"))
    now = dt.datetime.now(dt.UTC)
    span = dt.timedelta(days=4 * 365)
    begin = now - span - dt.timedelta(hours=1)

    t0 = time.perf_counter()
    made = 0.0
    seals = []
    for start in range(0, total, batch):
        m = time.perf_counter()
        rows = _rows(start, min(batch, total - start), total, begin, span)
        made += time.perf_counter() - m
        trail.append("access_log", _COLUMNS, rows)
        if (start + batch) % seal_every == 0 or start + batch >= total:
            s = time.perf_counter()
            sealer.seal()
            seals.append(time.perf_counter() - s)
        if (start // batch) % 10 == 0:
            print(f"  appended {start + len(rows):,} rows", flush=True)
    append_s = time.perf_counter() - t0 - made - sum(seals)
    rss_after_append = _maxrss_mb()

    checkpoints, _ = CheckpointBook(work / "checkpoints").read()
    verifier = Verifier(store, terms_of(policy), sealer.signer.public, checkpoints)
    t = time.perf_counter()
    full = verifier.run()
    full_s = time.perf_counter() - t
    assert full.ok and full.rows == total, [f.line() for f in full.findings[:3]]
    rss_after_verify = _maxrss_mb()

    since = now - dt.timedelta(days=30)
    t = time.perf_counter()
    recent = verifier.run(since)
    recent_s = time.perf_counter() - t
    assert recent.ok, [f.line() for f in recent.findings[:3]]

    out = work / "export"
    t = time.perf_counter()
    exported = export_audit(store, checkpoints, sealer.signer.public_pem(), terms_of(policy), since, now, out)
    export_s = time.perf_counter() - t
    t = time.perf_counter()
    standalone = subprocess.run([sys.executable, "-I", str(out / "verify_audit.py")], cwd=out, capture_output=True,
                                text=True)  # fmt: skip
    standalone_s = time.perf_counter() - t
    store.close()
    store_bytes = sum(p.stat().st_size for p in (work / "store").rglob("*") if p.is_file())
    shutil.rmtree(work, ignore_errors=True)
    return {
        "rows": total, "batch": batch, "checkpoints": len(checkpoints),
        "append_seconds": append_s, "append_rows_per_s": total / append_s,
        "seal_ms_median": sorted(seals)[len(seals) // 2] * 1000,
        "verify_seconds": full_s, "verify_rows_per_s": total / full_s,
        "verify_recent_seconds": recent_s, "verify_recent_rows": recent.rows,
        "export_seconds": export_s, "export_rows": sum(exported.rows.values()),
        "standalone_seconds": standalone_s, "standalone_exit": standalone.returncode,
        "standalone_output": standalone.stdout.strip(),
        "max_rss_mb_after_append": rss_after_append, "max_rss_mb_after_verify": rss_after_verify,
        "store_bytes": store_bytes,
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "measured_at": now.isoformat(timespec="seconds"),
    }


def markdown(r: dict) -> str:
    lines = [
        f"# The audit chain over {r['rows']:,} access-log rows", "",
        f"Measured {r['measured_at']} by `python -m benchmarks.audit --rows {r['rows']}` on {r['machine']['cpus']} "
        "cores, one process, embedded store.", "",
        "| figure | value | how |", "|---|---|---|",
        f"| append | {r['append_rows_per_s']:,.0f} rows/s ({r['append_seconds']:.1f} s) | through the access log's "
        f"trail in batches of {r['batch']:,}: canonical form, SHA-256, insert; making the rows is not counted |",
        f"| seal | {r['seal_ms_median']:.0f} ms (median of {r['checkpoints']}) | read each chain's start, sign, "
        "write the file (no broker) |",
        f"| verify all | **{r['verify_seconds']:.1f} s** ({r['verify_rows_per_s']:,.0f} rows/s) | "
        f"`Verifier.run()`: every row read in pages of 100,000 places, rehashed, linked, checked against "
        f"{r['checkpoints']} checkpoints |",
        f"| verify --from (30 days) | {r['verify_recent_seconds']:.2f} s ({r['verify_recent_rows']:,} rows) | "
        "the same, from the first row of the last 30 days |",
        f"| export 30 days | {r['export_seconds']:.2f} s ({r['export_rows']:,} rows) | rows up to the next "
        "sealed row, checkpoints, key, script |",
        f"| standalone verification of that export | {r['standalone_seconds']:.2f} s (exit "
        f"{r['standalone_exit']}) | `python3 -I verify_audit.py`: {r['standalone_output']} |",
        f"| peak memory | {r['max_rss_mb_after_append']:,.0f} MB after appending, "
        f"{r['max_rss_mb_after_verify']:,.0f} MB after verifying | the process's max RSS (store engine included) |",
        f"| store on disk | {r['store_bytes'] / 1e6:,.0f} MB | the whole embedded store folder |",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", default=None, help="results name (default audit-<rows>)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder of the results")
    parser.add_argument("--batch", type=int, default=10_000, help="rows appended at a time")
    parser.add_argument("--seal-every", type=int, default=100_000, help="rows between checkpoints")
    args = parser.parse_args()
    result = run(args.rows, args.batch, args.seal_every)
    size = f"{args.rows // 1_000_000}m" if args.rows >= 1_000_000 else f"{args.rows // 1000}k"
    name = args.out or f"audit-{size}"
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / f"{name}.json").write_text(json.dumps(result, indent=1))
    (args.results / f"{name}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
