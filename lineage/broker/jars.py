"""The broker's jars: fetched once with Maven from the pom beside this module, into a classpath folder."""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

from lineage.broker.errors import JarFetchFailed, JavaNotFound, MavenNotFound
from lineage.broker.process import flock, tail_text

log = logging.getLogger(__name__)

POM = Path(__file__).parent / "pom.xml"
_STAMP = ".pom.sha256"
# A cold ~/.m2 downloads ~45 MB; bound it so a hung network cannot hang `start` forever.
_MAVEN_TIMEOUT_S = 900


def fetch_jars(libs_dir: Path) -> Path:
    """Fetch the broker jars with Maven unless ``libs_dir`` already holds them for this pom."""
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()
    if _stamp(libs_dir) == digest:
        return libs_dir
    libs_dir.parent.mkdir(parents=True, exist_ok=True)
    # Tests and `make demo` share one jar cache; serialise fetches so they don't race on the rename.
    with flock(libs_dir.parent / f".{libs_dir.name}.lock"):
        if _stamp(libs_dir) == digest:
            return libs_dir
        if shutil.which("java") is None:
            raise JavaNotFound()
        mvn = shutil.which("mvn")
        if mvn is None:
            raise MavenNotFound()
        log.info("fetching the Kafka broker jars with Maven into %s", libs_dir)
        # A sibling temp dir on the same filesystem: the final rename is atomic, so an interrupted
        # fetch leaves a stray temp dir, never a half classpath under libs_dir.
        work = Path(tempfile.mkdtemp(prefix=f".{libs_dir.name}.fetch-", dir=libs_dir.parent))
        try:
            # Maven runs on a copy so nothing is written next to the installed package.
            pom = work / "pom.xml"
            shutil.copyfile(POM, pom)
            fetched = work / "libs"
            cmd = [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
                   "-DincludeScope=runtime", f"-DoutputDirectory={fetched}"]  # fmt: skip
            try:
                done = subprocess.run(cmd, cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, timeout=_MAVEN_TIMEOUT_S)  # fmt: skip
            except subprocess.TimeoutExpired as exc:
                raise JarFetchFailed(
                    f"Maven did not finish within {_MAVEN_TIMEOUT_S} s; check access to Maven Central "
                    f"(proxy settings in ~/.m2/settings.xml).\n{tail_text(exc.output or b'')}"
                ) from None
            if done.returncode != 0 or not any(fetched.glob("kafka_2.13-*.jar")):
                raise JarFetchFailed(
                    f"Maven failed to fetch the Kafka jars (exit {done.returncode}); check access to Maven "
                    f"Central and the pom {POM}. Last lines of its output:\n{tail_text(done.stdout)}"
                )
            (fetched / _STAMP).write_text(digest + "\n")
            if libs_dir.exists():
                libs_dir.rename(work / "stale")
            fetched.rename(libs_dir)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return libs_dir


def _stamp(libs_dir: Path) -> str | None:
    try:
        return (libs_dir / _STAMP).read_text().strip()
    except OSError:
        return None
