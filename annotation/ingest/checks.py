"""The checks every record goes through, in order.

normalise → redact personal data → hash (exact dedup) → language ID →
quality signals → MinHash bands (near dedup) → token count. Redaction
comes before anything is hashed or stored, so the originals are kept
nowhere.
"""

from dataclasses import dataclass

import xxhash

from . import langid, minhash, normalise, pii, quality, tokens
from .schemas import map_texts, text_fields


@dataclass
class Checked:
    content: dict
    content_hash: str
    detected_language: str
    language_score: float
    language_mismatch: bool
    pii_redactions: int
    quality: dict
    bands: list[int]
    tokens: int


def content_hash(kind: str, content: dict) -> str:
    """128-bit hash of the record's texts; the same texts in another kind differ."""
    hasher = xxhash.xxh3_128()
    hasher.update(kind.encode())
    for text in text_fields(kind, content):
        hasher.update(b"\x1f")
        hasher.update(text.encode("utf-8"))
    return hasher.hexdigest()


def check_record(kind: str, content: dict, *, language: str, tokenizer: str) -> Checked:
    redactions = 0

    def clean(text: str) -> str:
        nonlocal redactions
        redacted, count = pii.redact(normalise.normalise_text(text))
        redactions += count
        return redacted

    content = map_texts(kind, content, clean)
    texts = text_fields(kind, content)
    analysed = "\n\n".join(texts)
    detected, score = langid.identify(analysed)
    return Checked(
        content=content,
        content_hash=content_hash(kind, content),
        detected_language=detected,
        language_score=round(score, 4),
        language_mismatch=langid.is_mismatch(language, detected, score, len(analysed)),
        pii_redactions=redactions,
        quality=quality.quality_signals(analysed, language),
        bands=minhash.band_hashes(analysed),
        tokens=tokens.get_counter(tokenizer)(analysed),
    )


def is_blank(kind: str, content: dict) -> bool:
    """After normalisation a record may hold nothing at all."""
    return not any(t.strip() for t in text_fields(kind, content))
