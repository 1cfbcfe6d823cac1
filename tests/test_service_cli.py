"""`lineage token` and `lineage serve` at the command line: tokens kept as hashes, clear refusals, and the
CLI's way to the store when no service answers."""

from __future__ import annotations

import json
import socket
import stat
import subprocess
from pathlib import Path

import pytest
from conftest import free_port, store_held_elsewhere
from service_fixtures import LINEAGE, RunningService

pytestmark = pytest.mark.integration


def lineage(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    svc = RunningService(home, "127.0.0.1:1")
    return subprocess.run([LINEAGE, *args], env={**svc.env, **env}, capture_output=True, text=True, timeout=120)


def test_a_token_is_shown_once_and_only_its_hash_is_kept(tmp_path: Path) -> None:
    home = tmp_path / "home"
    made = lineage(home, "token", "create", "--role", "privacy", "--name", "officer-1")
    assert made.returncode == 0, made.stderr
    token = made.stdout.splitlines()[0]
    assert token.startswith("lin_") and len(token) > 40 and "not shown again" in made.stdout
    book = home / "tokens.json"
    assert token not in book.read_text() and stat.S_IMODE(book.stat().st_mode) == 0o600
    assert json.loads(book.read_text())[0]["name"] == "officer-1"

    listed = lineage(home, "token", "list")
    assert listed.returncode == 0 and "officer-1" in listed.stdout and "privacy" in listed.stdout
    assert token not in listed.stdout

    again = lineage(home, "token", "create", "--role", "product", "--name", "officer-1")
    assert again.returncode == 2 and again.stderr.startswith("error: a token named 'officer-1' exists already")
    role = lineage(home, "token", "create", "--role", "admin", "--name", "x")
    assert role.returncode == 2 and "--role is product, privacy or operator" in role.stderr
    name = lineage(home, "token", "create", "--role", "product", "--name", "has space")
    assert name.returncode == 2 and "a token name is" in name.stderr

    assert lineage(home, "token", "revoke", "officer-1").returncode == 0
    gone = lineage(home, "token", "revoke", "officer-1")
    assert gone.returncode == 2 and gone.stderr.strip() == "error: no token named 'officer-1'"
    assert "no tokens yet" in lineage(home, "token", "list").stdout


def test_serve_refuses_a_taken_port_and_a_held_store_in_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = lineage(home, "serve", LINEAGE_SERVE_PORT=str(port))
    assert busy.returncode == 1 and busy.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}")
    assert "Traceback" not in busy.stderr + busy.stdout

    (home / "store").mkdir(parents=True)
    with store_held_elsewhere(home / "store"):
        held = lineage(home, "serve", LINEAGE_SERVE_PORT=str(free_port()))
    assert held.returncode == 4 and "is open in another process" in held.stderr
    assert "Traceback" not in held.stderr + held.stdout and len(held.stderr.strip().splitlines()) == 1


def test_a_command_opens_the_store_itself_when_the_service_that_wrote_the_access_file_is_gone(tmp_path) -> None:
    home = tmp_path / "home"
    access = home / "serve" / "access.json"
    access.parent.mkdir(parents=True)
    access.write_text(json.dumps({"url": f"http://127.0.0.1:{free_port()}", "token": "lin_local_gone", "pid": 1}))
    answer = lineage(home, "usage", "components", "--format", "json")
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout) == []


def test_the_access_file_is_for_the_services_owner_only_and_goes_when_it_stops(kafka_bootstrap, tmp_path) -> None:
    svc = RunningService(tmp_path / "home", kafka_bootstrap).start()
    try:
        assert stat.S_IMODE(svc.access_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(svc.access_file.parent.stat().st_mode) == 0o700
        made = svc.lineage("token", "create", "--role", "product", "--name", "short-lived")
        token = made.stdout.splitlines()[0]
        assert svc.call("/api/usage/plans", token=token).status == 200
        assert svc.lineage("token", "revoke", "short-lived").returncode == 0
        # Revoked while the service runs: refused from the next call on.
        assert svc.call("/api/usage/plans", token=token).status == 401
        assert svc.call("/api/cli", method="POST", body={"argv": ["usage", "plans"]}, token=token).status == 401
        local = svc.local_token()
        assert svc.call("/api/cli", method="POST", body={"argv": ["kafka", "stop"]}, token=local).status == 400
    finally:
        code, _, out = svc.stop()
    assert code == 0, out
    assert not svc.access_file.exists()
