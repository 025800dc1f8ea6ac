"""What each kind of record must hold; documented in docs/formats.md.

``validate`` turns a parsed object into the stored content, or raises
``RecordError`` with a message that names fields, never their values.
"""

from numbers import Integral

from .messages import Message
from .messages import gettext_noop as _
from .normalise import normalise_text

# The one list of kinds; annotation.models.submissions.Kind labels the same values.
KINDS = ("pretraining", "instruction", "conversation", "evaluation", "preference")
ROLES = ("system", "user", "assistant")
MAX_ID = 200
CONVERSATION = Message(_('conversations are {"messages": [{"role": …, "content": …}, …]}'))
ITEM = Message(_('evaluation items are {"question": …, "choices": […], "answer": i}'))
ANSWER = Message(_("the 0-based index of the correct choice"))
DOCUMENT = Message(_('pretraining documents are {"text": …}'))
PAIR = Message(_('instruction pairs are {"prompt": …, "response": …}'))
PREFERENCE = Message(_('preference pairs are {"prompt": …, "chosen": …, "rejected": …}'))
RANKING = Message(_('rankings are {"prompt": …, "responses": […], "ranking": […]}'))
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
    content = {
        "pretraining": _document, "instruction": _pair, "conversation": _conversation, "evaluation": _item,
        "preference": _preference,
    }[kind](data)
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


def _preference(data):
    """A pair as is; a ranking as its responses best first: ``chosen`` the best, ``rejected`` the others in order.

    The pairs a ranking stands for are the best response against each worse
    one (as UltraFeedback's binarised sets): every pair then says something
    the ranker meant, and no prompt weighs n(n-1)/2 times as much as a pair.
    """
    # A table's pairs and rankings share columns: an empty cell is a field not given.
    if data.get("responses") is not None or data.get("ranking") is not None:
        prompt = _prompt(data, RANKING)
        ordered = _ranked(_responses(_required(data, "responses", RANKING)), _required(data, "ranking", RANKING))
        return {"prompt": prompt, "chosen": ordered[0], "rejected": ordered[1:]}
    content = {"prompt": _prompt(data, PREFERENCE), "chosen": _text(data, "chosen", PREFERENCE),
               "rejected": _text(data, "rejected", PREFERENCE)}
    if normalise_text(content["chosen"]).strip() == normalise_text(content["rejected"]).strip():
        raise RecordError(_("fields 'chosen' and 'rejected' are the same text; a preference needs two different answers"))
    return content


def _prompt(data: dict, what: Message):
    """A string, or a conversation (TRL's conversational prompt) ending with the user's turn."""
    prompt = _required(data, "prompt", what)
    if isinstance(prompt, str):
        return _text(data, "prompt", what)
    if not isinstance(prompt, list):
        raise RecordError(_("field 'prompt' must be a string or a list of turns, not %(type)s"), type=_type(prompt))
    if not prompt:
        raise RecordError(_("field 'prompt' is an empty list of turns"))
    turns = [_turn(message, number) for number, message in enumerate(prompt, 1)]
    if turns[-1]["role"] != "user":
        raise RecordError(_("the turns in field 'prompt' must end with a user turn, the one the answers reply to"))
    return turns


def _responses(responses) -> list[str]:
    if not isinstance(responses, list):
        raise RecordError(_("field 'responses' must be a list of answers, not %(type)s"), type=_type(responses))
    if len(responses) < 2:
        raise RecordError(
            _("field 'responses' needs at least two answers; this one has %(count)s"), count=len(responses)
        )
    first_index = {}  # normalised text → its first index: a tie is no preference
    for index, response in enumerate(responses):
        if not isinstance(response, str):
            raise RecordError(
                _("the response at index %(index)s must be a string, not %(type)s"), index=index, type=_type(response)
            )
        if not response.strip():
            raise RecordError(_("the response at index %(index)s is empty"), index=index)
        key = normalise_text(response).strip()
        if key in first_index:
            raise RecordError(
                _("the responses at index %(first)s and %(index)s are the same text"),
                first=first_index[key], index=index,
            )
        first_index[key] = index
    return list(responses)


def _ranked(responses: list[str], ranking) -> list[str]:
    """``responses`` in the order ``ranking`` gives: their 0-based indexes, best first, each once."""
    count = len(responses)
    if (
        not isinstance(ranking, list)
        or any(isinstance(i, bool) or not isinstance(i, Integral) for i in ranking)
        or sorted(ranking) != list(range(count))
    ):
        raise RecordError(
            _("field 'ranking' must list each index of the %(count)s responses (0 to %(last)s) once, best first"),
            count=count, last=count - 1,
        )
    return [responses[i] for i in ranking]


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
    if kind == "preference":
        return [*_prompt_texts(content["prompt"]), content["chosen"], *_rejected(content)]
    return [content["question"], *content["choices"]]


def _prompt_texts(prompt) -> list[str]:
    return [prompt] if isinstance(prompt, str) else [m["content"] for m in prompt]


def _rejected(content: dict) -> list[str]:
    """A pair's one rejected answer, or a ranking's worse answers in order."""
    rejected = content["rejected"]
    return [rejected] if isinstance(rejected, str) else rejected


def map_texts(kind: str, content: dict, fn) -> dict:
    """Apply ``fn`` to every human-written text of a record."""
    if kind == "pretraining":
        return {"text": fn(content["text"])}
    if kind == "instruction":
        return {k: fn(v) for k, v in content.items()}
    if kind == "conversation":
        return {"messages": _map_turns(content["messages"], fn)}
    if kind == "preference":
        prompt, rejected = content["prompt"], content["rejected"]
        return {
            "prompt": fn(prompt) if isinstance(prompt, str) else _map_turns(prompt, fn),
            "chosen": fn(content["chosen"]),
            "rejected": fn(rejected) if isinstance(rejected, str) else [fn(r) for r in rejected],
        }
    return {"question": fn(content["question"]), "choices": [fn(c) for c in content["choices"]], "answer": content["answer"]}


def _map_turns(turns: list[dict], fn) -> list[dict]:
    return [{"role": m["role"], "content": fn(m["content"])} for m in turns]
