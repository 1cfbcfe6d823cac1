#!/usr/bin/env python3
"""Verify an audit export of Engage Lineage, with nothing of the project installed.

Needs Python 3.11+ and the ``cryptography`` package. Run it in the export's folder
(or give the folder): ``python3 verify_audit.py [FOLDER]``. Exit 0 when every row
matches its hash, links to the row before it, and every checkpoint is signed by the
key in ``public_key.pem`` (compare its fingerprint with the one you were given) and
seals the rows it names; exit 1 with the first row or checkpoint that does not.
"""

import base64
import datetime as dt
import hashlib
import json
import re
import sys
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization


def text(obj):
    """The serialisation every hash and signature is taken of: sorted keys, no spaces, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def moment(s):
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


def after(term, when):
    """A term like P5Y, P12M or P30D after a moment (at whole seconds, as the store's TTL reads it)."""
    years, months, days = (int(g or 0) for g in re.fullmatch(r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?", term).groups())
    when = when.replace(microsecond=0)
    month = when.month - 1 + months + 12 * years
    year, month = when.year + month // 12, month % 12 + 1
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    day = min(when.day, [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1])
    return when.replace(year=year, month=month, day=day) + dt.timedelta(days=days)


def main(folder):
    manifest = json.loads((folder / "manifest.json").read_text())
    key = serialization.load_pem_public_key((folder / "public_key.pem").read_bytes())
    fp = hashlib.sha256(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).hexdigest()[:16]
    exported_at = moment(manifest["exported_at"])
    pins, previous, sealed_at = {}, None, None
    for path in sorted((folder / "checkpoints").glob("*.json")):
        cp = json.loads(path.read_text())
        body = cp["body"]
        try:
            key.verify(base64.b64decode(cp["signature"]), text(body))
        except (InvalidSignature, ValueError):
            return f"checkpoint {body.get('number')}: bad signature"
        if previous is not None and body["previous"] != previous:
            return f"checkpoint {body['number']}: does not link to the checkpoint before it"
        previous = hashlib.sha256(text(cp)).hexdigest()
        sealed_at = body["sealed_at"]
        for chain, seal in body["chains"].items():
            pins[(chain, seal["head"]["seq"])] = (seal["head"]["hash"], body["number"])
    total = 0
    for chain, span in manifest["chains"].items():
        removed = {}
        listed = folder / "rows" / f"{chain}.removed.json"
        if listed.exists():
            removed = {r["seq"]: (r["hash"], r["prev"]) for r in json.loads(listed.read_text())}
        term = manifest["terms"].get(chain)
        prev, expected = None, span["first"]
        with (folder / "rows" / f"{chain}.jsonl").open() as rows:
            for line in rows:
                row = json.loads(line)
                rec, seq = row["record"], row["record"]["seq"]
                while expected < seq:  # a missing row: removed by an erasure, or past its term
                    if expected in removed:
                        if prev is not None and removed[expected][1] != prev:
                            return f"{chain} row {expected}: removed, but its recorded link does not match"
                        prev = removed[expected][0]
                    elif not (term and after(term, moment(rec["prior_at"])) <= exported_at):
                        return f"{chain} row {expected}: missing"
                    else:
                        prev = rec["prev"]
                    expected += 1
                if hashlib.sha256(text(rec)).hexdigest() != row["hash"]:
                    return f"{chain} row {seq}: its content does not match its hash"
                if prev is not None and rec["prev"] != prev:
                    return f"{chain} row {seq}: its link to row {seq - 1} does not match"
                if (chain, seq) in pins and pins[(chain, seq)][0] != row["hash"]:
                    return f"{chain} row {seq}: checkpoint {pins[(chain, seq)][1]} sealed another hash"
                prev, expected, total = row["hash"], seq + 1, total + 1
        if expected <= span["last"]:
            return f"{chain} rows {expected}-{span['last']}: missing from the export"
    print(f"verified {total} rows in {len(manifest['chains'])} chains up to {sealed_at} (key {fp})")
    return None


if __name__ == "__main__":
    problem = main(Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve())
    if problem:
        print(f"NOT VERIFIED: {problem}")
        sys.exit(1)
