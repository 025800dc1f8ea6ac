"""Text normalisation applied to every record before any other check."""

import unicodedata

import regex

# Invisible characters: controls, format characters (BOM, soft hyphen,
# zero-width space, bidi marks), lone surrogates (PostgreSQL cannot store
# them) and noncharacters. ZWJ and ZWNJ stay: emoji sequences and several
# scripts (and German/Persian typography) change meaning without them.
_INVISIBLE = regex.compile(r"[[\p{Cc}\p{Cf}\p{Cs}\p{Noncharacter_Code_Point}]--[\u200c\u200d]]", regex.V1)
# In code a tab is indentation (Makefiles, Go), not an invisible character.
_INVISIBLE_IN_CODE = regex.compile(r"[[\p{Cc}\p{Cf}\p{Cs}\p{Noncharacter_Code_Point}]--[\t\u200c\u200d]]", regex.V1)
_FENCES = ("```", "~~~")


def normalise_text(text: str) -> str:
    """Return ``text`` in the canonical form every later step sees.

    Every line break (``\\r\\n``, ``\\r``, form feed, U+2028, …) becomes
    ``\\n`` and U+2029 a blank line; invisible characters are dropped (ZWJ
    and ZWNJ kept); on each line runs of horizontal whitespace (tabs, NBSP
    and the other Unicode spaces) become one space and the line is stripped;
    at most one blank line separates paragraphs; the text is NFC-composed
    and stripped. Inside a fenced code block (``` or ~~~) lines keep their
    indentation, tabs, inner spacing and blank lines: only trailing
    whitespace and invisible characters go, since whitespace is syntax
    there. The result is a fixed point: normalising it again changes nothing.
    """
    out: list[str] = []
    fence = None
    blank_run = 0
    for line in text.replace("\u2029", "\n\n").splitlines():
        if fence is not None and not line.lstrip().startswith(fence):
            out.append(_normalise_code_line(line))
            continue
        line = _normalise_line(line)
        if fence is not None:
            fence = None
        elif line.startswith(_FENCES):
            fence = line[:3]
        blank_run = blank_run + 1 if not line else 0
        if blank_run < 2:
            out.append(line)
    # Composing last joins a base letter and a combining mark that an
    # invisible character used to separate.
    return unicodedata.normalize("NFC", "\n".join(out)).strip()


def _normalise_line(line: str) -> str:
    # str.split() and str.isprintable() run in C; the regex only sees the
    # rare line that still holds a character that is neither visible nor a space.
    line = " ".join(line.split())
    if not line.isprintable():
        line = " ".join(_INVISIBLE.sub("", line).split())
    return line


def _normalise_code_line(line: str) -> str:
    line = line.rstrip()
    if not line.isprintable():
        line = _INVISIBLE_IN_CODE.sub("", line).rstrip()
    return line
