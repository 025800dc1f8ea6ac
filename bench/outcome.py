"""How every benchmark ends: its figures as one JSON line, then a failure if what it measured went wrong.

A benchmark whose requests answer 401, whose builds fail or whose server
never started has measured nothing worth a number, so it says what went
wrong and exits non-zero instead of reporting the errors as timings.
"""

import json
import sys
from collections import Counter


class Errors(Counter):
    """What went wrong while measuring, counted by a short description."""

    def status(self, what: str, status: int | None) -> bool:
        """Count ``status`` as an error of ``what`` unless it is 2xx; return whether it was."""
        if status is not None and 200 <= status < 300:
            return True
        self[f"{what}: {'no answer' if status is None else f'HTTP {status}'}"] += 1
        return False

    def check(self, ok: bool, what: str) -> bool:
        """Count ``what`` as an error unless ``ok``; return ``ok``."""
        if not ok:
            self[what] += 1
        return ok


def finish(report: dict, errors: Errors, *, smoke: bool) -> None:
    """Print ``report`` (with the errors, and ``"smoke": true`` in smoke mode) as the last line; exit 1 if any error."""
    if smoke:
        report["smoke"] = True
    report["errors"] = dict(errors)
    print(json.dumps(report), flush=True)
    if errors:
        sys.exit("FAILED: " + "; ".join(f"{what} (×{count})" for what, count in errors.items()))
