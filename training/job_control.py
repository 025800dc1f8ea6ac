"""Markers that tell a running GPU job to stop, without a database.

The GPU worker has no database credentials, so the portal signals through the
job's output folder (shared storage) and, when the spec has an ``output_uri``,
through the object store next to the checkpoints too:

    <output_dir>/ATTEMPT              the attempt the portal currently expects
    <output_dir>/CANCELLED            staff cancelled the job
    <output_uri>/control/ATTEMPT      the same, for a GPU host that shares no folder with the portal
    <output_uri>/control/CANCELLED

A worker polls a :class:`StopCheck` while its child runs and kills the child
when the job was cancelled or a newer attempt superseded it (the sweeper took
it for dead). So a job is never run twice for long, even if a "dead" job was
only slow. The local markers are read on every poll; the store's at most
every ``STORE_CHECK_SECONDS``, and a store that cannot be reached never stops
a job. No Django: the standard library, and boto3 only once a store is asked.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable

from training import run_store
from training.jobs.contract import SpecError, confine_uri

log = logging.getLogger(__name__)

ATTEMPT = "ATTEMPT"
CANCELLED = "CANCELLED"
CONTROL = "control"  # under output_uri, beside checkpoint-<step>/ and final/
STORE_CHECK_SECONDS = 30.0
STORE_TIMEOUT_SECONDS = 5.0


def mark_attempt(output_dir: str, attempt: int) -> None:
    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ATTEMPT).write_text(str(attempt))


def mark_cancelled(output_dir: str) -> None:
    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CANCELLED).touch()


def mark_attempt_in_store(store: run_store.Store, output_uri: str, attempt: int) -> None:
    store.write_bytes(run_store.join_uri(output_uri, CONTROL, ATTEMPT), str(attempt).encode())


def mark_cancelled_in_store(store: run_store.Store, output_uri: str) -> None:
    store.write_bytes(run_store.join_uri(output_uri, CONTROL, CANCELLED), b"")


def should_stop(output_dir: str, attempt: int) -> bool:
    """Whether the local markers say ``attempt`` is cancelled or superseded."""
    folder = Path(output_dir)
    if (folder / CANCELLED).exists():
        return True
    try:
        return _superseded((folder / ATTEMPT).read_text(), attempt)
    except OSError:
        return False


def _superseded(marker: str, attempt: int) -> bool:
    try:
        return int(marker.strip() or 0) > attempt
    except ValueError:
        return False


class StopCheck:
    """``should_stop`` for one attempt, the object store's markers included: call it as often as you like.

    The local markers are read on every call. The store's (when there is an
    ``output_uri``) on the first call and then at most once every ``interval``
    seconds. A stop is final: cancelled stays cancelled and attempts only
    grow. A store that cannot be reached, or an ``output_uri`` outside this
    host's ``s3://BUCKET/PREFIX``, is logged and counts as "keep going".
    """

    def __init__(
        self, output_dir: str, attempt: int, *, output_uri: str | None = None,
        interval: float = STORE_CHECK_SECONDS, store: run_store.Store | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self.output_dir, self.attempt, self.output_uri = output_dir, attempt, output_uri
        self.interval, self.clock, self._store = interval, clock, store
        self._checked_at: float | None = None
        self.stopped = False

    def __call__(self) -> bool:
        if not self.stopped and should_stop(self.output_dir, self.attempt):
            self.stopped = True
        if not self.stopped and self.output_uri and self._due():
            self._checked_at = self.clock()
            self.stopped = self._store_says_stop()
        return self.stopped

    def _due(self) -> bool:
        return self._checked_at is None or self.clock() - self._checked_at >= self.interval

    def _store_says_stop(self) -> bool:
        control = run_store.join_uri(self.output_uri, CONTROL)
        # Anything that goes wrong here is logged, never raised: the runner
        # kills the child when its cancel check raises, and a job of days
        # must not die because the store was away for a minute.
        try:
            if self._store is None:
                root = run_store.store_root_from_env()
                confine_uri("output_uri", self.output_uri, [root] if root else [])
                # One quick try: the next poll is the retry.
                self._store = run_store.Store.from_env(max_attempts=1, timeout=STORE_TIMEOUT_SECONDS)
            if self._store.read_bytes(run_store.join_uri(control, CANCELLED)) is not None:
                return True
            marker = self._store.read_bytes(run_store.join_uri(control, ATTEMPT))
            return marker is not None and _superseded(marker.decode(errors="replace"), self.attempt)
        except SpecError as error:
            log.warning("not reading stop markers from the object store: %s", error)
            self.output_uri = None  # the job refuses this spec anyway; don't ask again
        except Exception as error:  # noqa: BLE001 - see above
            log.warning("could not read the stop markers under %s (%s); going on, the local markers still count",
                        control, error)  # fmt: skip
        return False
