"""The client and its transport, configured the client's usual way, and an emitter that never holds the work up.

The transport is what the user configured for the OpenLineage client (``OPENLINEAGE_CONFIG``, an
``openlineage.yml`` in the working folder or ``~/.openlineage/``, ``OPENLINEAGE__TRANSPORT__*`` or
``OPENLINEAGE_URL``); with none of those, the client's file transport appending to one file in
the home folder. ``OPENLINEAGE_DISABLED=true`` (the client's own switch) or our setting turns
events off. Events are handed to the transport on a thread of their own: a slow or dead
transport costs the commands nothing but a bounded wait at their end, and one warning.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from pathlib import Path
from typing import Any

from openlineage.client import OpenLineageClient
from openlineage.client.transport.file import FileConfig, FileTransport

log = logging.getLogger("lineage.openlineage")

_CAPACITY = 10_000  # events waiting for the transport; beyond this they are dropped (and said)
_IDLE_SECONDS = 5.0  # the sending thread ends after this long without an event, and starts again with the next


def build_client(default_file: Path) -> OpenLineageClient | None:
    """The client with the transport the user configured, else the file transport on ``default_file``.

    None when the client is switched off (OPENLINEAGE_DISABLED) or cannot be built (said in the log).
    """
    try:
        default_file.parent.mkdir(parents=True, exist_ok=True)
        client = OpenLineageClient(transport=FileTransport(FileConfig(log_file_path=str(default_file), append=True)))
        if client.transport.kind == "noop":
            return None
        # The configuration the client found in its own places (file, environment); a transport in it wins.
        if client.config.transport:
            client = OpenLineageClient()
        return None if client.transport.kind == "noop" else client
    except Exception as exc:  # a malformed openlineage.yml, an unknown transport type, an unwritable home
        log.warning("OpenLineage events are off: the client cannot be configured (%s: %s)", type(exc).__name__, exc)
        return None


class Emitter:
    """Sends events through a client on a thread of its own; ``emit`` never waits."""

    def __init__(self, client: OpenLineageClient) -> None:
        self.client = client
        self._queue: queue.Queue[Any] = queue.Queue(_CAPACITY)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._failing = False
        self._said = threading.Lock()  # one warning per outage, whichever thread meets it first
        self.sent = 0
        self.failed = 0

    @property
    def transport(self) -> str:
        return str(self.client.transport.kind)

    def emit(self, event: Any) -> None:
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self._fault("the transport is too slow; events waiting", queue.Full())
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="openlineage-emitter", daemon=True)
                self._thread.start()

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every event handed over so far to be sent (or to fail).

        Past the bound the caller goes on; the events are still sent, later, if the transport answers."""
        deadline = time.monotonic() + timeout
        done = self._queue.all_tasks_done
        with done:
            while self._queue.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                done.wait(left)
            else:
                return True
        self._fault(f"not sent within {timeout:g} s", TimeoutError("the transport did not answer in time"))
        return False

    def _work(self) -> None:
        while True:
            try:
                event = self._queue.get(timeout=_IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            try:
                self.client.emit(event)
                self.sent += 1
                if self._failing:
                    self._failing = False
                    log.info("OpenLineage events are delivered again (%s transport)", self.transport)
            except Exception as exc:  # the transport's own failure, whatever its kind: said once, never raised
                self._fault("cannot deliver", exc)
            finally:
                self._queue.task_done()

    def _fault(self, what: str, exc: BaseException) -> None:
        with self._said:
            self.failed += 1
            first, self._failing = not self._failing, True
        if first:
            log.warning("OpenLineage events: %s (%s transport: %s: %s); the work goes on without them until the "
                        "transport answers", what, self.transport, type(exc).__name__, exc)  # fmt: skip
        else:
            log.debug("OpenLineage event not delivered: %s", exc)
