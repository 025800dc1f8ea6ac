"""JSON-line events: the only thing a job says on stdout.

One object per line, always with ``event`` and ``time``. The runner (and the
portal-side worker behind it) parses these; everything else a job or its
libraries print goes to stderr and ends up only in the log tail.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator, Protocol, TextIO


class Emit(Protocol):
    def __call__(self, event: str, /, **fields) -> None: ...


class EventWriter:
    """Writes events to a text stream, one flushed line each; safe across threads."""

    def __init__(self, stream: TextIO | None = None, **common) -> None:
        self.stream = stream or sys.stdout
        self.common = common  # e.g. run_id, added to every event
        self._lock = threading.Lock()

    def __call__(self, event: str, /, **fields) -> None:
        record = {"event": event, "time": round(time.time(), 3), **self.common, **fields}
        line = json.dumps(record, default=str)
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()


@contextmanager
def heartbeat(emit: Callable[..., None], every_seconds: float) -> Iterator[None]:
    """Emit ``{"event": "heartbeat"}`` every ``every_seconds`` from a daemon thread.

    A thread rather than a check in the loop: loading a 7B model or one long
    step must not look like a dead worker.
    """
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every_seconds):
            emit("heartbeat")

    thread = threading.Thread(target=beat, name="heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
