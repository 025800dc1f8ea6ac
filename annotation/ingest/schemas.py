"""What each kind of record must hold; documented in docs/formats.md.

``validate`` turns a parsed object into the stored content, or raises
``RecordError`` with a message that names fields, never their values.
"""

from numbers import Integral

KINDS = ("pretraining", "instruction", "conversation", "evaluation")
ROLES = ("system", "user", "assistant")
MAX_ID = 200


class RecordError(ValueError):
    pass


def validate(kind: str, data: dict) -> tuple[dict, str, dict]:
    """Return ``(content, external_id, meta)`` for one record of ``kind``."""
    content = {"pretraining": _document, "instruction": _pair, "conversation": _conversation, "evaluation": _item}[kind](data)
    return content, _external_id(data.get("id")), _meta(data.get("meta"))


def _text(data: dict, field: str, what: str) -> str:
    if field not in data or data[field] is None:
        raise RecordError(f"missing field {field!r} ({what})")
    value = data[field]
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
    messages = data.get("messages")
    if not isinstance(messages, list) or len(messages) < 2:
        raise RecordError('missing field \'messages\': conversations are {"messages": [{"role": …, "content": …}, …]} with at least two turns')
    clean = []
    for i, message in enumerate(messages, 1):
        if not isinstance(message, dict):
            raise RecordError(f"message {i} must be an object with 'role' and 'content'")
        role = message.get("role")
        if role not in ROLES:
            raise RecordError(f"message {i} has role {role!r}; use one of {', '.join(ROLES)}" if isinstance(role, str) and len(role) < 30 else f"message {i} needs a role: one of {', '.join(ROLES)}")
        clean.append({"role": role, "content": _text(message, "content", f"message {i}")})
    roles = {m["role"] for m in clean}
    if not {"user", "assistant"} <= roles:
        raise RecordError("a conversation needs at least one user and one assistant message")
    return {"messages": clean}


def _item(data):
    question = _text(data, "question", 'evaluation items are {"question": …, "choices": […], "answer": i}')
    choices = data.get("choices")
    if not isinstance(choices, list) or len(choices) < 2:
        raise RecordError("field 'choices' must be a list of at least two answers")
    if not all(isinstance(c, str) and c.strip() for c in choices):
        raise RecordError("every choice must be a non-empty string")
    if len({c.strip() for c in choices}) != len(choices):
        raise RecordError("two choices are the same")
    answer = data.get("answer")
    if isinstance(answer, bool) or not isinstance(answer, Integral):
        raise RecordError("field 'answer' must be the index (0-based) of the correct choice")
    if not 0 <= answer < len(choices):
        raise RecordError(f"field 'answer' is {answer} but there are {len(choices)} choices (0-based index)")
    return {"question": question, "choices": list(choices), "answer": int(answer)}


def _external_id(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise RecordError("field 'id' must be a string or a whole number")
    value = str(value)
    if len(value) > MAX_ID:
        raise RecordError(f"field 'id' is longer than {MAX_ID} characters")
    return value


def _meta(value) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RecordError("field 'meta' must be a JSON object")
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
