"""Token counts per record, with a GPT-2-style regex or a Hugging Face tokenizer."""

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
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
    """The token count of each of ``texts``, as get_counter(spec) counts.

    A tokenizer encodes them in one batch; the regex count is made in numpy
    over the whole batch (_count_pretokens), equal to the regex's.
    """
    if spec == REGEX:
        return _count_pretokens(texts)
    return [len(encoding.ids) for encoding in _tokenizer(Path(spec)).encode_batch(texts, add_special_tokens=False)]


def _count_regex(text: str) -> int:
    # subn counts the matches without building a list of them.
    return _GPT2_PRETOKENIZER.subn("", text)[1]


_OTHER, _LETTER, _NUMBER, _SPACE, _EDGE = range(5)
_APOSTROPHE, _BLANK = ord("'"), ord(" ")
_CONTRACTIONS = {"s": 1, "t": 1, "m": 1, "d": 1, "re": 2, "ve": 2, "ll": 2}


@lru_cache(maxsize=1)
def _classes() -> np.ndarray:
    """The pre-tokenizer's class (other, letter, number, space) of every code point, made by its own regex classes."""
    every = "".join(map(chr, range(0x110000)))
    for pattern, mark in ((r"[^\s\p{L}\p{N}]", _OTHER), (r"\p{L}", _LETTER), (r"\p{N}", _NUMBER), (r"\s", _SPACE)):
        every = regex.sub(pattern, chr(mark), every)
    return np.frombuffer(every.encode("latin-1"), dtype=np.uint8)


def _count_pretokens(texts: list[str]) -> list[int]:
    r"""The GPT-2 pre-tokenizer's match count per text, from where its matches start.

    A match starts at each change between letters, numbers and other
    characters, and at a non-space after a space; a space right before a
    non-space joins that match (`` ?\p{L}+``). A run of spaces makes one match
    of all but its last character when longer than one (``\s+(?!\S)``), one
    of all of it at the end of the text, and its last character is a match
    of its own unless it is " " followed by a non-space. An apostrophe that
    starts a match and is followed by s, t, m, d, re, ve or ll is a
    contraction, which ends where its letters end. Checked against the
    regex on generated text in the tests.
    """
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    codes = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    if not len(codes):
        return [0] * len(texts)
    ends = np.cumsum(lengths)
    begins, filled = ends - lengths, lengths > 0
    classes = _classes()[codes]
    before, after = np.empty_like(classes), np.empty_like(classes)
    before[1:], after[:-1] = classes[:-1], classes[1:]
    before[begins[filled]], after[ends[filled] - 1] = _EDGE, _EDGE
    space = classes == _SPACE
    starts = ~space & (before != classes)
    first, last = np.flatnonzero(space & (before != _SPACE)), np.flatnonzero(space & (after != _SPACE))
    longer, at_end = last > first, after[last] == _EDGE
    starts[first[longer | at_end | (codes[first] != _BLANK)]] = True
    starts[last[longer & ~at_end & (codes[last] != _BLANK)]] = True
    _split_contractions(starts, codes, classes, before, np.repeat(ends, lengths))
    counts = np.zeros(len(texts), dtype=np.int64)
    counts[filled] = np.add.reduceat(starts, begins[filled])
    return counts.tolist()


def _split_contractions(starts, codes, classes, before, text_ends) -> None:
    for position in np.flatnonzero(starts & (codes == _APOSTROPHE)).tolist():
        if before[position] == _SPACE and codes[position - 1] == _BLANK:
            continue  # " '" is a match of other characters: the space joined it
        end = int(text_ends[position])
        following = codes[position + 1 : min(position + 3, end)].tobytes().decode("utf-32-le", "surrogatepass")
        size = _CONTRACTIONS.get(following[:1]) or _CONTRACTIONS.get(following[:2])
        if size:
            starts[position + 1] = False
            if position + 1 + size < end and classes[position + 1 + size] == _LETTER:
                starts[position + 1 + size] = True


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
