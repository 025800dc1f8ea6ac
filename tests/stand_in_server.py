"""The frame of the test servers that speak a real service's HTTP API (Argilla, the Hugging Face Hub).

A subclass keeps the service's state, ``exchanges`` (every request and its
answer, for tests to assert on) and a handler class that hands each request
to it. Here: starting on a free port of 127.0.0.1 in a thread, stopping, and
looking up what was sent.
"""

import re
import threading
from http.server import ThreadingHTTPServer


class StandInServer:
    def __init__(self, handler):
        self.exchanges = []
        self._handler = handler

    def sent(self, method: str, pattern: str) -> list:
        """Request bodies of the exchanges whose method and path match."""
        return [e.body for e in self.exchanges if e.method == method and re.fullmatch(pattern, e.path)]

    def __enter__(self):
        handler = type("Handler", (self._handler,), {"server_state": self})
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self._http.server_port}"
        self._thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._http.shutdown()
        self._http.server_close()
