"""Every command, given bad arguments or failing parts, prints one clear error and a documented exit code.

The real `lineage` executable runs in a subprocess, as a user meets it, and no
output may hold a Python traceback. The commands are found by walking the CLI
itself, so a new command is swept too.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import typer
from conftest import store_held_elsewhere

from lineage.cli import app, exits

LINEAGE = str(Path(sys.executable).with_name("lineage"))
DOCUMENTED = {exits.ERROR, exits.USAGE, exits.NOT_RUNNING, exits.STORE, exits.BROKER, exits.NO_PARTITIONS,
              exits.RECOVERY}  # fmt: skip


def _commands() -> list[tuple[list[str], object]]:
    found = []

    def walk(command, path: list[str]) -> None:
        children = getattr(command, "commands", None)
        if children:
            for name, child in sorted(children.items()):
                walk(child, [*path, name])
        else:
            found.append((path, command))

    walk(typer.main.get_command(app), [])
    return found


COMMANDS = _commands()
# Values a user might plausibly give each option; the parts behind them are what fail.
PLAUSIBLE = {"--email": "someone@example.nl", "--out": "out", "--set": "last_name=Jansen", "--purpose": "product_insight",
             "--right": "access", "--reason": "because", "--told-on": "2026-11-01", "--simulate": "1",
             "--until-idle": "1", "--events": "10", "--operator": "officer", "--from-jsonl": None,
             "--from": "2026-10-01", "--to": "2026-10-02", "--title": "a lost laptop"}  # fmt: skip


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LINEAGE, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LINEAGE_", "KAFKA_", "CLICKHOUSE_"))}
    return clean | {"LINEAGE_HOME": str(tmp_path / "home"), "COLUMNS": "200"}


def _no_traceback(result: subprocess.CompletedProcess[str], what: str) -> None:
    both = result.stdout + result.stderr
    assert "Traceback" not in both, f"{what}: {both[-2000:]}"


def _plausible_args(command, tmp_path: Path) -> list[str]:
    args: list[str] = []
    for param in command.params:
        if param.param_type_name == "argument":
            args.append("x")
            continue
        name = max(param.opts, key=len)
        if name == "--from-jsonl":
            path = tmp_path / "events.jsonl"
            path.write_text("")
            args += [name, str(path)]
        elif name in PLAUSIBLE:
            args += [name, PLAUSIBLE[name]]
        elif param.required:
            args += [name, "x"]
    return args


def test_the_sweep_finds_every_command() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"consume", "produce", "sar erase", "dsr list", "retention run", "usage trend", "kafka topics"} <= names
    assert len(names) >= 25


def test_an_unknown_option_is_a_usage_error_for_every_command(env: dict[str, str], tmp_path: Path) -> None:
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda c: (c[0], _run([*c[0], "--no-such-option"], env, tmp_path)), COMMANDS))
    for path, result in results:
        _no_traceback(result, " ".join(path))
        assert result.returncode == exits.USAGE, " ".join(path)


def test_nonsense_values_never_end_in_a_traceback(env: dict[str, str], tmp_path: Path) -> None:
    def nonsense(entry):
        path, command = entry
        args = [*path]
        for param in command.params:
            if param.param_type_name == "argument":
                args.append("../\u2603 '; DROP TABLE events; --")
            elif not param.is_flag:
                args += [max(param.opts, key=len), "-1e999 \u2603 \x1b[31m"]
        return path, _run(args, env | {"LINEAGE_OPERATOR": "officer"}, tmp_path)

    with ThreadPoolExecutor(4) as pool:
        for path, result in pool.map(nonsense, [c for c in COMMANDS if c[0] != ["kafka", "start"]]):
            _no_traceback(result, " ".join(path))
            assert result.returncode in DOCUMENTED | {exits.OK}, (path, result.returncode, result.stderr[-500:])


def test_every_command_facing_a_dead_store_and_broker_says_so_in_one_line(env: dict[str, str], tmp_path: Path) -> None:
    broken = env | {"CLICKHOUSE_URL": f"http://127.0.0.1:{_closed_port()}", "LINEAGE_PSEUDONYM_KEY": "k",
                    "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{_closed_port()}", "LINEAGE_OPERATOR": "officer"}  # fmt: skip
    # `kafka start` runs the local broker whatever is configured; `kafka stop`/`status` touch only it;
    # `token` and `audit keygen` touch only their files.
    swept = [c for c in COMMANDS if (c[0][0] not in ("kafka", "token") or c[0][1] == "topics")
             and c[0] != ["audit", "keygen"]]  # fmt: skip

    def attempt(entry):
        path, command = entry
        started = time.monotonic()
        return path, _run([*path, *_plausible_args(command, tmp_path)], broken, tmp_path), time.monotonic() - started

    with ThreadPoolExecutor(4) as pool:
        for path, result, seconds in pool.map(attempt, swept):
            what = " ".join(path)
            _no_traceback(result, what)
            assert result.returncode in {exits.STORE, exits.BROKER, exits.USAGE}, (what, result.returncode, result.stderr)
            errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
            assert len(errors) == 1, (what, result.stderr)
            assert seconds < 60, f"{what} took {seconds:.0f} s to give up"


def test_a_binary_file_given_as_json_lines_is_refused_by_line(env: dict[str, str], tmp_path: Path) -> None:
    binary = tmp_path / "photo.jpg"
    binary.write_bytes(bytes(range(256)) * 40)
    result = _run(["produce", "--from-jsonl", str(binary)], env | {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}, tmp_path)
    _no_traceback(result, "produce --from-jsonl binary")
    assert result.returncode == exits.USAGE and "not UTF-8 text" in result.stderr


@pytest.mark.parametrize(("command", "as_of"), [("run", "0001-01-01"), ("status", "9999-12-31")])
def test_a_retention_date_outside_what_terms_can_count_is_refused(env: dict[str, str], tmp_path: Path, command: str,
                                                                 as_of: str) -> None:  # fmt: skip
    result = _run(["retention", command, "--as-of", as_of], env, tmp_path)
    _no_traceback(result, f"retention {command}")
    assert result.returncode == exits.USAGE and "outside 1970-01-01 to 2200-12-31" in result.stderr


def test_a_store_url_of_an_unknown_kind_is_a_configuration_error(env: dict[str, str], tmp_path: Path) -> None:
    result = _run(["usage", "components"], env | {"CLICKHOUSE_URL": "ftp://nowhere"}, tmp_path)
    _no_traceback(result, "usage components")
    assert result.returncode == exits.ERROR and "must start with chdb://" in result.stderr


def test_an_embedded_store_held_by_another_process_is_named_as_such(env: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "held-store"
    with store_held_elsewhere(folder):
        result = _run(["usage", "components"], env | {"CLICKHOUSE_URL": f"chdb://{folder}"}, tmp_path)
    _no_traceback(result, "usage components on a held store")
    assert result.returncode == exits.STORE and "open in another process" in result.stderr
    assert "Code: 76" not in result.stderr, "the engine's own message is not printed"


def test_bad_settings_in_the_environment_are_a_usage_error(env: dict[str, str], tmp_path: Path) -> None:
    result = _run(["usage", "components"], env | {"LINEAGE_BATCH_MAX_RECORDS": "lots"}, tmp_path)
    _no_traceback(result, "bad setting")
    assert result.returncode == exits.USAGE and "batch_max_records" in result.stderr


def test_a_broken_policy_file_stops_the_consumer_in_one_line(env: dict[str, str], tmp_path: Path) -> None:
    broken = tmp_path / "policy.yaml"
    broken.write_text("version: [unclosed\n")
    result = _run(["consume", "--until-idle", "1"], env | {"LINEAGE_POLICY_PATH": str(broken),
                                                         "LINEAGE_PSEUDONYM_KEY": "k"}, tmp_path)  # fmt: skip
    _no_traceback(result, "consume with a broken policy")
    assert result.returncode == exits.ERROR and "policy file" in result.stderr
