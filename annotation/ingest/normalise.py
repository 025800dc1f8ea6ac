"""Text normalisation applied to every record before any other check."""

import unicodedata

import regex

# Invisible characters: controls, format characters (BOM, soft hyphen,
# zero-width space, bidi marks), lone surrogates (PostgreSQL cannot store
# them) and noncharacters. ZWJ and ZWNJ stay: emoji sequences and several
# scripts (and German/Persian typography) change meaning without them.
_INVISIBLE = regex.compile(r"[[\p{Cc}\p{Cf}\p{Cs}\p{Noncharacter_Code_Point}]--[\u200c\u200d]]", regex.V1)
_BLANK_LINES = regex.compile(r"\n{3,}")


def normalise_text(text: str) -> str:
    """Return ``text`` in the canonical form every later step sees.

    Every line break (``\\r\\n``, ``\\r``, form feed, U+2028, …) becomes
    ``\\n`` and U+2029 a blank line; invisible characters are dropped (ZWJ
    and ZWNJ kept); on each line runs of horizontal whitespace (tabs, NBSP
    and the other Unicode spaces) become one space and the line is stripped;
    at most one blank line separates paragraphs; the text is NFC-composed
    and stripped. The result is a fixed point: normalising it again
    changes nothing.
    """
    lines = text.replace("\u2029", "\n\n").splitlines()
    text = "\n".join([_normalise_line(line) for line in lines])
    text = _BLANK_LINES.sub("\n\n", text)
    # Composing last joins a base letter and a combining mark that an
    # invisible character used to separate.
    return unicodedata.normalize("NFC", text).strip()


def _normalise_line(line: str) -> str:
    # str.split() and str.isprintable() run in C; the regex only sees the
    # rare line that still holds a character that is neither visible nor a space.
    line = " ".join(line.split())
    if not line.isprintable():
        line = " ".join(_INVISIBLE.sub("", line).split())
    return line
