"""Messages for the person who uploaded, kept translatable without Django.

Ingest runs as plain Python, so it cannot translate; it records each
message as an English template with its variable parts, and the portal
translates the template when it shows it. ``str(message)`` is the English
text, which the API and the command line keep showing.

Templates use named placeholders only (``%(line)s``); a literal percent
sign is written ``%%``. A parameter may itself be a ``Message`` (a detail
inside a sentence), translated the same way.
"""

from dataclasses import dataclass, field
from typing import Callable

from .pii import redact


def gettext_noop(message: str) -> str:
    """Mark ``message`` for extraction (``makemessages`` looks for this name); translate nothing."""
    return message


@dataclass(frozen=True)
class Message:
    template: str
    params: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return self.render(lambda template: template)

    def render(self, translate: Callable[[str], str]) -> str:
        """The text with ``translate`` applied to this template and to nested ones."""
        values = {key: _render_value(value, translate) for key, value in self.params.items()}
        return translate(self.template) % values

    def as_dict(self) -> dict:
        """Plain JSON: ``{"template": …, "params": …}``, nested messages as dicts too."""
        params = {key: value.as_dict() if isinstance(value, Message) else value for key, value in self.params.items()}
        return {"template": self.template, "params": params}

    def redacted(self) -> "Message":
        """This message with personal data in its parameters (nested ones too) replaced; templates stay.

        A parameter may be an archive member's name, a quoted value or a library's error text.
        """
        params = {key: value.redacted() if isinstance(value, Message) else redact(value)[0] if isinstance(value, str)
                  else value for key, value in self.params.items()}
        return Message(self.template, params)

    @classmethod
    def from_dict(cls, data: dict) -> "Message":
        params = {key: cls.from_dict(value) if _is_message_dict(value) else value
                  for key, value in (data.get("params") or {}).items()}
        return cls(data["template"], params)


def stored_message(stored, english: str | None) -> Message | None:
    """A message kept as ``{"template", "params", …}``; one kept before messages were translatable is its English text."""
    if isinstance(stored, dict) and isinstance(stored.get("template"), str):
        return Message.from_dict(stored)
    return None if english is None else Message("%(text)s", {"text": english})


def _render_value(value, translate):
    if isinstance(value, Message):
        return value.render(translate)
    return value


def _is_message_dict(value) -> bool:
    return isinstance(value, dict) and set(value) == {"template", "params"} and isinstance(value["template"], str)
