"""JSON-line events: the only thing a job says on stdout.

One contract event (training/jobs/contract.py) per line, stamped with the
job's ``run_id`` and the ``time``. The runner (and the GPU worker behind it)
parses these; everything else a job or its libraries print goes to stderr and
ends up only in the log tail.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator, TextIO

from training.jobs.contract import Event, Heartbeat

Emit = Callable[[Event], None]


class EventWriter:
    """Writes events to a text stream, one flushed line each; safe across threads."""

    def __init__(self, stream: TextIO | None = None, *, run_id: str = "") -> None:
        self.stream = stream or sys.stdout
        self.run_id = run_id
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        record = dataclasses.replace(event, run_id=self.run_id, time=round(time.time(), 3)).to_dict()
        line = json.dumps(record, default=str)
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()


@contextmanager
def heartbeat(emit: Emit, every_seconds: float) -> Iterator[None]:
    """Emit a :class:`Heartbeat` every ``every_seconds`` from a daemon thread.

    A thread rather than a check in the loop: loading a 7B model or one long
    step must not look like a dead worker.
    """
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every_seconds):
            emit(Heartbeat())

    thread = threading.Thread(target=beat, name="heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
