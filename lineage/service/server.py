"""`lineage serve`: start the parts, listen, and stop in order.

Start: the store is opened first (a store held elsewhere is told before anything
listens), then the consumer and the schedule, then the HTTP server; once it
listens, the access file for the local CLI is written. Stop (SIGTERM or Ctrl-C):
the server stops taking calls, the consumer stops fetching, flushes and commits,
the schedule stops, the access file goes and the store is closed: the next start
resumes exactly where this one stopped, as the store holds every position.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time

import uvicorn

from lineage.service.app import build_app
from lineage.service.local import Access, remove_access, write_access
from lineage.service.runtime import Commands, Service
from lineage.settings import Settings

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn's server, with the signals left to ``serve``: uvicorn would raise SIGTERM again once it stopped
    listening, ending the process before the consumer had flushed."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


class PortInUse(Exception):
    """Something listens on the service's address already."""


def check_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise PortInUse(f"cannot listen on {host}:{port} ({exc.strerror}); is a service running already? "
                            "(LINEAGE_SERVE_HOST, LINEAGE_SERVE_PORT)") from None  # fmt: skip


def url_of(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def serve(settings: Settings, consume: bool = True, on_ready=None, commands: Commands | None = None) -> None:
    """Run until SIGTERM or Ctrl-C; ``on_ready(url)`` is called once the server listens; ``commands`` runs the
    CLI's commands sent to the service."""
    check_port(settings.serve_host, settings.serve_port)
    service = Service(settings, consume=consume, commands=commands)
    app = build_app(service)
    config = uvicorn.Config(app, host=settings.serve_host, port=settings.serve_port, log_config=None,
                            access_log=False, timeout_graceful_shutdown=3, lifespan="off")  # fmt: skip
    server = _Server(config)
    url = url_of(settings.serve_host, settings.serve_port)
    access = Access(url, service.local_token, os.getpid())

    def announce() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if server.started:
            write_access(settings.home, access)
            log.info("serving on %s", url)
            if on_ready:
                on_ready(url)

    def stop(signum, frame) -> None:
        if server.should_exit:
            server.force_exit = True  # a second signal: stop waiting for calls in progress
        server.should_exit = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    service.start()
    threading.Thread(target=announce, name="announce", daemon=True).start()
    try:
        server.run()  # returns once a signal asked it to stop and it stopped taking calls
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stopping = time.monotonic()
        remove_access(settings.home, access)
        service.stop()
        service.close()
        log.info("stopped in %.1f s", time.monotonic() - stopping)
