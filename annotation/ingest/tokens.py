"""Token counts per record, with a GPT-2-style regex or a Hugging Face tokenizer."""

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import regex
from tokenizers import Tokenizer

REGEX = "regex"

# GPT-2's pre-tokenizer: roughly one match per BPE token of ordinary prose,
# which makes a tokenizer-free estimate.
_GPT2_PRETOKENIZER = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


@lru_cache(maxsize=None)
def get_counter(spec: str) -> Callable[[str], int]:
    """A function counting the tokens of a text, built once per ``spec``.

    ``"regex"`` counts GPT-2 pre-tokenizer matches; any other value is the
    path of a Hugging Face ``tokenizer.json``, and the count is the number
    of ids it encodes, without special tokens, padding or truncation.
    Raises ValueError when that file does not exist.
    """
    if spec == REGEX:
        return _count_regex
    return _tokenizer_counter(Path(spec))


def count_batch(spec: str, texts: list[str]) -> list[int]:
    """The token count of each of ``texts``, as get_counter(spec) counts; a tokenizer encodes them in one batch."""
    if spec == REGEX:
        return list(map(_count_regex, texts))
    return [len(encoding.ids) for encoding in _tokenizer(Path(spec)).encode_batch(texts, add_special_tokens=False)]


def _count_regex(text: str) -> int:
    # subn counts the matches without building a list of them.
    return _GPT2_PRETOKENIZER.subn("", text)[1]


@lru_cache(maxsize=None)
def _tokenizer(path: Path) -> Tokenizer:
    if not path.is_file():
        raise ValueError(f"tokenizer file not found: {path}")
    tokenizer = Tokenizer.from_file(str(path))
    # A tokenizer.json may carry truncation or padding, which would cap or pad the count.
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def _tokenizer_counter(path: Path) -> Callable[[str], int]:
    tokenizer = _tokenizer(path)

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    return count
