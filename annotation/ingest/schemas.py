"""What each kind of record must hold; documented in docs/formats.md.

``validate`` turns a parsed object into the stored content, or raises
``RecordError`` with a message that names fields, never their values.
"""

from numbers import Integral

KINDS = ("pretraining", "instruction", "conversation", "evaluation")
ROLES = ("system", "user", "assistant")
MAX_ID = 200
CONVERSATION = 'conversations are {"messages": [{"role": …, "content": …}, …]}'
ITEM = 'evaluation items are {"question": …, "choices": […], "answer": i}'
ANSWER = "the 0-based index of the correct choice"


class RecordError(ValueError):
    pass


def validate(kind: str, data: dict) -> tuple[dict, str, dict]:
    """Return ``(content, external_id, meta)`` for one record of ``kind``."""
    content = {"pretraining": _document, "instruction": _pair, "conversation": _conversation, "evaluation": _item}[kind](data)
    return content, _external_id(data.get("id")), _meta(data.get("meta"))


def _required(data: dict, field: str, what: str):
    if field not in data:
        raise RecordError(f"missing field {field!r} ({what})")
    if data[field] is None:
        raise RecordError(f"field {field!r} is null ({what})")
    return data[field]


def _text(data: dict, field: str, what: str) -> str:
    value = _required(data, field, what)
    if not isinstance(value, str):
        raise RecordError(f"field {field!r} must be a string, not {type(value).__name__}")
    if not value.strip():
        raise RecordError(f"field {field!r} is empty")
    return value


def _document(data):
    return {"text": _text(data, "text", 'pretraining documents are {"text": …}')}


def _pair(data):
    what = 'instruction pairs are {"prompt": …, "response": …}'
    content = {"prompt": _text(data, "prompt", what), "response": _text(data, "response", what)}
    if data.get("system"):
        content["system"] = _text(data, "system", "optional system prompt")
    return content


def _conversation(data):
    messages = _required(data, "messages", CONVERSATION)
    if not isinstance(messages, list):
        raise RecordError(f"field 'messages' must be a list of turns, not {type(messages).__name__}")
    if len(messages) < 2:
        raise RecordError(
            f"a conversation needs at least two turns (a user turn and an assistant reply); this one has {len(messages)}"
        )
    turns = [_turn(message, number) for number, message in enumerate(messages, 1)]
    roles = {turn["role"] for turn in turns}
    for needed in ("user", "assistant"):
        if needed not in roles:
            raise RecordError(f"a conversation needs a user turn and an assistant turn; this one has no {needed} turn")
    return {"messages": turns}


def _turn(message, number: int) -> dict:
    if not isinstance(message, dict):
        raise RecordError(f"message {number} must be an object with 'role' and 'content', not {type(message).__name__}")
    try:
        return {"role": _role(message), "content": _text(message, "content", "the text of the turn")}
    except RecordError as exc:
        raise RecordError(f"message {number}: {exc}") from None


def _role(message: dict) -> str:
    allowed = ", ".join(ROLES)
    role = _required(message, "role", f"one of {allowed}")
    if role in ROLES:
        return role
    if isinstance(role, str) and len(role) < 30:  # quote a near miss ('human', 'User'), never a long value
        raise RecordError(f"field 'role' is {role!r}; use one of {allowed}")
    raise RecordError(f"field 'role' must be one of {allowed}")


def _item(data):
    question = _text(data, "question", ITEM)
    choices = _choices(_required(data, "choices", ITEM))
    answer = _answer(_required(data, "answer", ANSWER), len(choices))
    return {"question": question, "choices": choices, "answer": answer}


def _choices(choices) -> list[str]:
    if not isinstance(choices, list):
        raise RecordError(f"field 'choices' must be a list of answers, not {type(choices).__name__}")
    if len(choices) < 2:
        raise RecordError(f"field 'choices' needs at least two answers; this one has {len(choices)}")
    # Numbered from 0, as 'answer' numbers them.
    first_index = {}
    for index, choice in enumerate(choices):
        if not isinstance(choice, str):
            raise RecordError(f"the choice at index {index} must be a string, not {type(choice).__name__}")
        if not choice.strip():
            raise RecordError(f"the choice at index {index} is empty")
        if choice.strip() in first_index:
            raise RecordError(f"the choices at index {first_index[choice.strip()]} and {index} are the same")
        first_index[choice.strip()] = index
    return list(choices)


def _answer(answer, choices: int) -> int:
    if isinstance(answer, bool) or not isinstance(answer, Integral):
        raise RecordError(f"field 'answer' must be a whole number ({ANSWER}), not {type(answer).__name__}")
    if not 0 <= answer < choices:
        raise RecordError(f"field 'answer' is {answer}, but the {choices} choices have indexes 0 to {choices - 1}")
    return int(answer)


def _external_id(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise RecordError(f"field 'id' must be a string or a whole number, not {type(value).__name__}")
    value = str(value)
    if len(value) > MAX_ID:
        raise RecordError(f"field 'id' is longer than {MAX_ID} characters")
    return value


def _meta(value) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RecordError(f"field 'meta' must be a JSON object, not {type(value).__name__}")
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
