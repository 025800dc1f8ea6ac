"""Redaction of personal data: e-mail addresses, IBANs, IP addresses, phone numbers.

Each kind is found by a permissive pattern (e-mail addresses: from their
"@") and confirmed by a rule (a checksum, an address parser, digit counts),
so the patterns stay readable and the rules carry the judgement. Originals
are replaced in place and never stored, returned or logged.
"""

import ipaddress
import string
from collections.abc import Callable

import regex

EMAIL, PHONE, IBAN, IP_ADDRESS = "<EMAIL>", "<PHONE>", "<IBAN>", "<IP_ADDRESS>"

# A practical subset of RFC 5322: dot-atom local part, dotted host names with
# a letter TLD; letters may be non-ASCII (EAI, IDN). No quoted local parts or
# address literals.
_ATOM_CHARS = frozenset("!#$%&'*+/=?^_`{|}~-.")
_LOCAL_PART = regex.compile(r"[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+(?:\.[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = r"[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?"
_DOMAIN = regex.compile(rf"(?:{_LABEL}\.)+\p{{L}}{{2,63}}(?![\p{{L}}\p{{N}}])")

_IBAN = regex.compile(r"(?<![\p{L}\p{N}])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}")
# ISO 13616 registry: IBAN length per country (SEPA and neighbours).
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27,
    "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}
_IBAN_LETTERS = {ord(letter): str(value) for value, letter in enumerate(string.ascii_uppercase, start=10)}

_IPV4 = regex.compile(r"(?<![\p{L}\p{N}.])\d{1,3}(?:\.\d{1,3}){3}(?![\p{N}]|\.\d)")
_IPV6 = regex.compile(
    r"(?<![\p{L}\p{N}:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{1,4})?"
    r"(?![\p{L}\p{N}:]|\.\d)"
)
_VERSION_BEFORE = regex.compile(r"(?i:\bv|\bver\.?|version|versión|versão|wersja|verzi[eoó])\s*$")

# A phone-shaped run not glued to a word or number: "+" or "(" or a digit,
# then digits, spaces, dots, hyphens, slashes and brackets, ending on a digit.
_PHONE = regex.compile(r"(?<![\p{L}\p{N}+\-./,])(?:\+|\()?\d[\d \-./()]{5,24}\d(?![\p{L}\p{N}]|[.,\-/:]\d)")
_PHONE_PREFIX = regex.compile(r"\+[1-9]|00[1-9]|\(0\)|\(?0[1-9]")
_PHONE_KEYWORD_BEFORE = regex.compile(
    r"(?i:\b(?:tel|telf|tél|tlf|tfn|tel[eé]f\w*|t[eé]l[eé]phone|telem[oó]vel|phone|mob|mobil\w*|m[oó]vil|"
    r"cell\w*|handy|gsm|fax|puh|puhelin|τηλ\w*|κιν\w*|тел\w*|моб\w*))\b[.:]?\s*(?:\(\w+\)\s*)?[:.\-]?\s*$"
)
# Dates (01.05.2024, 2024-05-01) and opening hours (08.00-12.00) share the shape.
_DATE_OR_TIME = regex.compile(
    r"\d{1,2}([./-])\d{1,2}\1\d{2,4}|\d{4}([./-])\d{1,2}\2\d{1,2}|\d{1,2}\.\d{2} ?- ?\d{1,2}\.\d{2}"
)
_ISBN_BEFORE = regex.compile(r"(?i:isbn(?:-1[03])?|issn)\W{0,3}$")
_GROUP_SPLIT = regex.compile(r"[ \-./()]+")
# "01.05.-15.05.2024": a date range, not a number.
_MIXED_SEPARATORS = regex.compile(r"[.\-/]{2}")


def redact(text: str) -> tuple[str, int]:
    """Replace personal data in ``text`` by typed placeholders; the redacted text and the number of replacements."""
    text, counts = redact_kinds(text)
    return text, sum(counts.values())


def redact_kinds(text: str) -> tuple[str, dict[str, int]]:
    """``redact``, counting the replacements per kind: ``{"email": 1, "phone": 2}`` (KINDS; none: ``{}``).

    E-mail addresses go first (they may hold digits), then IBANs (before
    phones: both are long digit runs), IPv6 and IPv4 addresses, and phone
    numbers last.
    """
    counts = {}
    for kind, step in _STEPS:
        text, count = step(text)
        if count:
            counts[kind] = counts.get(kind, 0) + count
    return text, counts


def redact_data(value):
    """``redact`` every string in a JSON value: lists, objects (keys too), nested to any depth.

    Returns the redacted copy and the number of replacements; numbers,
    booleans and null are kept as they are.
    """
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        pairs = [redact_data(item) for item in value]
        return [item for item, _count in pairs], sum(count for _item, count in pairs)
    if isinstance(value, dict):
        redacted, total = {}, 0
        for key, item in value.items():
            key, key_count = redact_data(key)
            redacted[key], item_count = redact_data(item)
            total += key_count + item_count
        return redacted, total
    return value, 0


def _emails(text: str) -> tuple[str, int]:
    """Replace e-mail addresses, found from their "@".

    Working out from each "@" is linear; a pattern that tries every letter
    as the start of a local part cost more than all the other steps together.
    """
    pieces, done, count = [], 0, 0
    at = text.find("@")
    while at != -1:
        start = _local_part_start(text, at)
        domain = _DOMAIN.match(text, at + 1)
        if start >= done and start < at and domain and _LOCAL_PART.fullmatch(text, start, at):
            pieces += [text[done:start], EMAIL]
            done, count = domain.end(), count + 1
        at = text.find("@", max(at + 1, done))
    return "".join(pieces) + text[done:], count


def _local_part_start(text: str, at: int) -> int:
    start = at
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] in _ATOM_CHARS):
        start -= 1
    # A dot cannot start a local part; an apostrophe there is a quotation mark ('anna@example.org').
    while start < at and text[start] in ".'":
        start += 1
    return start


def _substituting(pattern, rule: Callable, needle: str = "") -> Callable[[str], tuple[str, int]]:
    """A step that replaces each match of ``pattern`` by what ``rule`` returns (None keeps it).

    Texts without ``needle`` are returned at once.
    """

    def step(text: str) -> tuple[str, int]:
        if needle not in text:
            return text, 0
        count = 0

        def replace(match):
            nonlocal count
            replacement = rule(match)
            if replacement is None:
                return match.group()
            count += 1
            return replacement

        return pattern.sub(replace, text), count

    return step


def _iban(match) -> str | None:
    """Keep the prefix that is a whole IBAN of its country; the rest is left as text."""
    candidate = match.group()
    length = _IBAN_LENGTHS.get(candidate[:2])
    if length is None:
        return None
    # Written compact or in groups of four: one space after every fourth character.
    end = length + (length - 1) // 4 if candidate[4:5] == " " else length
    iban, rest = candidate[:end], candidate[end:]
    if len(iban.replace(" ", "")) != length or rest[:1].isalnum() or not _grouped_by_four(iban):
        return None
    return IBAN + rest if iban_is_valid(iban) else None


def _grouped_by_four(iban: str) -> bool:
    groups = iban.split(" ")
    return len(groups) == 1 or all(len(group) == 4 for group in groups[:-1])


def iban_is_valid(iban: str) -> bool:
    """ISO 13616 check: move the first four characters to the end, letters to numbers, mod 97 is 1."""
    compact = iban.replace(" ", "").upper()
    if not (compact.isascii() and compact.isalnum()):
        return False
    return int((compact[4:] + compact[:4]).translate(_IBAN_LETTERS)) % 97 == 1


def _ipv4(match) -> str | None:
    # "1.2.3.4" with one-digit parts is far more often a section number, and
    # addresses like 1.1.1.1 or 8.8.8.8 are public resolvers, not anyone's data.
    start = match.start()
    if len(match.group()) == 7 or _VERSION_BEFORE.search(match.string, max(0, start - 12), start):
        return None
    try:
        ipaddress.IPv4Address(match.group())
    except ValueError:
        return None
    return IP_ADDRESS


def _ipv6(match) -> str | None:
    # A digit rules out words that happen to be hex ("cafe::babe").
    candidate = match.group()
    if not any(char.isdigit() for char in candidate):
        return None
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return None
    return IP_ADDRESS


def _phone(match) -> str | None:
    candidate, text, start = match.group(), match.string, match.start()
    # "(030 1234567)": the opening bracket belongs to the sentence.
    lead = "(" if candidate.count("(") > candidate.count(")") and candidate[0] == "(" else ""
    number = candidate[len(lead):]
    if not _looks_like_phone(number) or _ISBN_BEFORE.search(text, max(0, start - 10), start):
        return None
    if _PHONE_PREFIX.match(number):
        return lead + PHONE
    # Numbers without a trunk or country prefix (Spanish, Italian, Danish…)
    # look like amounts; they count only after a word such as "Tel.".
    if _PHONE_KEYWORD_BEFORE.search(text, max(0, start - 30), start):
        return lead + PHONE
    return None


def _looks_like_phone(number: str) -> bool:
    """8 to 15 digits (E.164), not a date or hours, separators used one at a time, no one-digit tail."""
    digits = sum(map(str.isdigit, number))
    if not 8 <= digits <= 15 or _DATE_OR_TIME.fullmatch(number) or _MIXED_SEPARATORS.search(number):
        return False
    # "0-306-40615-2" (an ISBN-10) ends on one digit; phone numbers do not.
    return len(_GROUP_SPLIT.split(number)[-1]) >= 2


# IPv6 before IPv4, so "::ffff:192.0.2.1" is one address.
# The kinds of personal data, as redact_kinds names them (IPv4 and IPv6 are one kind).
KINDS = ("email", "iban", "ip_address", "phone")
_STEPS = [
    ("email", _emails),
    ("iban", _substituting(_IBAN, _iban)),
    ("ip_address", _substituting(_IPV6, _ipv6, ":")),
    ("ip_address", _substituting(_IPV4, _ipv4, ".")),
    ("phone", _substituting(_PHONE, _phone)),
]
