"""Errors that end a whole submission (as opposed to one bad line)."""


class SubmissionRefused(Exception):
    """The file as a whole cannot be ingested; the message says why, precisely.

    Messages never quote the file's content: it may hold personal data.
    """
