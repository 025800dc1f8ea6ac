"""Errors that end a whole submission (as opposed to one bad line)."""

from .messages import Message


class SubmissionRefused(Exception):
    """The file as a whole cannot be ingested; the message says why, precisely.

    Messages never quote the file's content: it may hold personal data.
    ``str(exc)`` is the English text; ``exc.message`` the translatable one.
    """

    def __init__(self, message: Message):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return str(self.message)
