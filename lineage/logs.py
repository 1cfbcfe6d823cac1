"""Where log records go: a file in the home folder, never the terminal.

Libraries (kafka-python, clickhouse-connect) log connection trouble and the
consumer logs a message it could not process with its trace; on a terminal that
would bury the one line a command prints. The consumer's changes of state (the
store gone, the broker back) reach the user through the command itself.
"""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler
from pathlib import Path

FILE_NAME = "lineage.log"
_MARK = "_lineage_file_handler"


def configure(home: Path) -> Path:
    """Send every log record of INFO and up to ``<home>/lineage.log`` (rotated at 5 MB); returns its path."""
    path = home / FILE_NAME
    root = logging.getLogger()
    if not any(getattr(h, _MARK, False) for h in root.handlers):
        try:
            home.mkdir(parents=True, exist_ok=True)
            handler: logging.Handler = RotatingFileHandler(path, maxBytes=5_000_000, backupCount=2, encoding="utf-8")
        except OSError:
            handler = logging.NullHandler()  # an unwritable home folder costs the log, not the command
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        setattr(handler, _MARK, True)
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        logging.getLogger("kafka").setLevel(logging.WARNING)
    return path
