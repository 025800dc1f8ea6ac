"""Errors that end a whole submission (as opposed to one bad line), and how to log any error."""

import traceback

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


def describe_failure(exc: BaseException) -> str:
    """For the log: the exception's type and where it was raised, not its text.

    An exception's text may quote what it was working on, such as a record
    (a database error's detail does), and logs must hold no personal data.
    """
    where = "".join(traceback.format_list(traceback.extract_tb(exc.__traceback__)))
    return f"{type(exc).__module__}.{type(exc).__qualname__}, raised at\n{where}".rstrip()
