"""An iterator run on a thread of its own, a few items ahead of its reader.

The build's cursor waits on PostgreSQL, and its rows become columns, while
the reader joins texts and hands row groups to the shard writers: with the
fetch on its own thread the server computes the next batch meanwhile. The
iterator's own cleanup (closing its cursor) runs on that thread too, before
the reader sees the end or the error.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from queue import Empty, Full, Queue
from typing import TypeVar

T = TypeVar("T")
_END = object()


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


def read_ahead(items: Iterator[T], *, depth: int = 2) -> Iterator[T]:
    """``items`` as they come, produced on a thread at most ``depth`` ahead; its errors raised here."""
    queue: Queue = Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                queue.put(item, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as error:  # handed to the reader, which raises it
            put(_Failed(error))
        else:
            put(_END)
        finally:
            close = getattr(items, "close", None)
            if close:
                close()

    thread = threading.Thread(target=produce, name="read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            try:
                item = queue.get(timeout=0.1)
            except Empty:
                if not thread.is_alive() and queue.empty():
                    raise RuntimeError("the read-ahead thread ended without a result") from None
                continue
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()
