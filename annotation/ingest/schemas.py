"""What each kind of record must hold; documented in docs/formats.md.

``validate`` turns a parsed object into the stored content, or raises
``RecordError`` with a message that names fields, never their values.
"""

from numbers import Integral

from .messages import Message
from .messages import gettext_noop as _

KINDS = ("pretraining", "instruction", "conversation", "evaluation")
ROLES = ("system", "user", "assistant")
MAX_ID = 200
CONVERSATION = Message(_('conversations are {"messages": [{"role": …, "content": …}, …]}'))
ITEM = Message(_('evaluation items are {"question": …, "choices": […], "answer": i}'))
ANSWER = Message(_("the 0-based index of the correct choice"))
DOCUMENT = Message(_('pretraining documents are {"text": …}'))
PAIR = Message(_('instruction pairs are {"prompt": …, "response": …}'))
SYSTEM = Message(_("optional system prompt"))
TURN_TEXT = Message(_("the text of the turn"))


class RecordError(ValueError):
    """One record is wrong for its kind; ``str(exc)`` is English, ``exc.message`` translatable."""

    def __init__(self, template: str, **params):
        self.message = Message(template, params)
        super().__init__(str(self.message))


def _type(value) -> str:
    return type(value).__name__


def validate(kind: str, data: dict) -> tuple[dict, str, dict]:
    """Return ``(content, external_id, meta)`` for one record of ``kind``."""
    content = {"pretraining": _document, "instruction": _pair, "conversation": _conversation, "evaluation": _item}[kind](data)
    return content, _external_id(data.get("id")), _meta(data.get("meta"))


def _required(data: dict, field: str, what: Message):
    if field not in data:
        raise RecordError(_("missing field %(field)s (%(what)s)"), field=repr(field), what=what)
    if data[field] is None:
        raise RecordError(_("field %(field)s is null (%(what)s)"), field=repr(field), what=what)
    return data[field]


def _text(data: dict, field: str, what: Message) -> str:
    value = _required(data, field, what)
    if not isinstance(value, str):
        raise RecordError(_("field %(field)s must be a string, not %(type)s"), field=repr(field), type=_type(value))
    if not value.strip():
        raise RecordError(_("field %(field)s is empty"), field=repr(field))
    return value


def _document(data):
    return {"text": _text(data, "text", DOCUMENT)}


def _pair(data):
    content = {"prompt": _text(data, "prompt", PAIR), "response": _text(data, "response", PAIR)}
    if data.get("system"):
        content["system"] = _text(data, "system", SYSTEM)
    return content


def _conversation(data):
    messages = _required(data, "messages", CONVERSATION)
    if not isinstance(messages, list):
        raise RecordError(_("field 'messages' must be a list of turns, not %(type)s"), type=_type(messages))
    if len(messages) < 2:
        raise RecordError(
            _("a conversation needs at least two turns (a user turn and an assistant reply); this one has %(count)s"),
            count=len(messages),
        )
    turns = [_turn(message, number) for number, message in enumerate(messages, 1)]
    roles = {turn["role"] for turn in turns}
    for needed in ("user", "assistant"):
        if needed not in roles:
            raise RecordError(
                _("a conversation needs a user turn and an assistant turn; this one has no %(role)s turn"), role=needed
            )
    return {"messages": turns}


def _turn(message, number: int) -> dict:
    if not isinstance(message, dict):
        raise RecordError(
            _("message %(number)s must be an object with 'role' and 'content', not %(type)s"),
            number=number, type=_type(message),
        )
    try:
        return {"role": _role(message), "content": _text(message, "content", TURN_TEXT)}
    except RecordError as exc:
        raise RecordError(_("message %(number)s: %(problem)s"), number=number, problem=exc.message) from None


def _role(message: dict) -> str:
    allowed = ", ".join(ROLES)
    role = _required(message, "role", Message(_("one of %(roles)s"), {"roles": allowed}))
    if role in ROLES:
        return role
    if isinstance(role, str) and len(role) < 30:  # quote a near miss ('human', 'User'), never a long value
        raise RecordError(_("field 'role' is %(role)s; use one of %(roles)s"), role=repr(role), roles=allowed)
    raise RecordError(_("field 'role' must be one of %(roles)s"), roles=allowed)


def _item(data):
    question = _text(data, "question", ITEM)
    choices = _choices(_required(data, "choices", ITEM))
    answer = _answer(_required(data, "answer", ANSWER), len(choices))
    return {"question": question, "choices": choices, "answer": answer}


def _choices(choices) -> list[str]:
    if not isinstance(choices, list):
        raise RecordError(_("field 'choices' must be a list of answers, not %(type)s"), type=_type(choices))
    if len(choices) < 2:
        raise RecordError(_("field 'choices' needs at least two answers; this one has %(count)s"), count=len(choices))
    # Numbered from 0, as 'answer' numbers them.
    first_index = {}
    for index, choice in enumerate(choices):
        if not isinstance(choice, str):
            raise RecordError(
                _("the choice at index %(index)s must be a string, not %(type)s"), index=index, type=_type(choice)
            )
        if not choice.strip():
            raise RecordError(_("the choice at index %(index)s is empty"), index=index)
        if choice.strip() in first_index:
            raise RecordError(
                _("the choices at index %(first)s and %(index)s are the same"),
                first=first_index[choice.strip()], index=index,
            )
        first_index[choice.strip()] = index
    return list(choices)


def _answer(answer, choices: int) -> int:
    if isinstance(answer, bool) or not isinstance(answer, Integral):
        raise RecordError(
            _("field 'answer' must be a whole number (%(what)s), not %(type)s"), what=ANSWER, type=_type(answer)
        )
    if not 0 <= answer < choices:
        raise RecordError(
            _("field 'answer' is %(answer)s, but the %(count)s choices have indexes 0 to %(last)s"),
            answer=int(answer), count=choices, last=choices - 1,
        )
    return int(answer)


def _external_id(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise RecordError(_("field 'id' must be a string or a whole number, not %(type)s"), type=_type(value))
    value = str(value)
    if len(value) > MAX_ID:
        raise RecordError(_("field 'id' is longer than %(max)s characters"), max=MAX_ID)
    return value


def _meta(value) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RecordError(_("field 'meta' must be a JSON object, not %(type)s"), type=_type(value))
    return value


def text_fields(kind: str, content: dict) -> list[str]:
    """The human-written texts of a record, in reading order."""
    if kind == "pretraining":
        return [content["text"]]
    if kind == "instruction":
        return [content[k] for k in ("system", "prompt", "response") if k in content]
    if kind == "conversation":
        return [m["content"] for m in content["messages"]]
    return [content["question"], *content["choices"]]


def map_texts(kind: str, content: dict, fn) -> dict:
    """Apply ``fn`` to every human-written text of a record."""
    if kind == "pretraining":
        return {"text": fn(content["text"])}
    if kind == "instruction":
        return {k: fn(v) for k, v in content.items()}
    if kind == "conversation":
        return {"messages": [{"role": m["role"], "content": fn(m["content"])} for m in content["messages"]]}
    return {"question": fn(content["question"]), "choices": [fn(c) for c in content["choices"]], "answer": content["answer"]}
