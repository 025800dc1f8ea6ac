"""Characters the portal's stored and routed text may not hold.

PostgreSQL cannot store NUL (U+0000) in text or JSON: one that reaches a
query or an insert is a 500. Other control characters have no place in an
address, a query string, a header or a file name; text and JSON values may
hold newlines and tabs.
"""

import re

from django.utils.translation import gettext as _

CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def holds_nul(value) -> bool:
    """Whether ``value`` (text, or lists and dicts of it, keys included) holds a NUL."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(holds_nul(k) or holds_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(holds_nul(item) for item in value)
    return False


def nul_message() -> str:
    return _("Text cannot hold NUL characters (\\u0000).")
