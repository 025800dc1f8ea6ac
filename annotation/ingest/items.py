"""What a format parser yields: one record or one problem, with its line."""

from dataclasses import dataclass

from .messages import Message
from .messages import gettext_noop as _


@dataclass
class Item:
    line: int
    data: dict | None = None
    error: Message | None = None


def too_long(line: int, max_bytes: int) -> Item:
    """The error item for a line past the size limit of one record."""
    return Item(line, error=Message(_("the line is longer than the %(limit)s-byte limit for one record"),
                                    {"limit": f"{max_bytes:,}"}))
