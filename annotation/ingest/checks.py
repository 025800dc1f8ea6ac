"""The checks every record goes through, in order, a batch of records at a time.

normalise → redact personal data → hash (exact dedup) → word split →
language ID → quality signals → MinHash bands (near dedup) → token count.
Redaction comes before anything is hashed or stored, so the originals are
kept nowhere. The word split is made once and shared by the quality signals
and the MinHash shingles; quality's repeated n-grams, MinHash and a
``tokenizer.json`` count each run over the whole batch in one native call.
"""

from collections import Counter
from dataclasses import dataclass

import xxhash

from . import langid, minhash, normalise, pii, quality, tokens, words
from .schemas import map_texts, text_fields


@dataclass
class Checked:
    content: dict
    content_hash: str
    detected_language: str
    language_score: float
    language_mismatch: bool
    pii_redactions: int
    quality: dict  # the quality signals, and "redactions": {kind: count} when the texts held personal data
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
    """One record's checks: see check_records."""
    return check_records(kind, [content], language=language, tokenizer=tokenizer)[0]


def check_records(kind: str, contents: list[dict], *, language: str, tokenizer: str) -> list[Checked]:
    """Check records of one ``kind`` declared in ``language``; one Checked per content, in order.

    ``tokenizer`` is a tokens.get_counter spec. The results do not depend on
    how records are batched.
    """
    cleaned = [_clean(kind, content) for content in contents]
    texts = ["\n\n".join(text_fields(kind, content)) for content, _ in cleaned]
    splits = [words.split(text) for text in texts]
    signals = quality.quality_signals_batch(texts, splits, language)
    bands = minhash.band_hashes_batch(splits)
    counts = tokens.count_batch(tokenizer, texts)
    checked = []
    for (content, redactions), text, signal, band, count in zip(cleaned, texts, signals, bands, counts):
        detected, score = langid.identify(text)
        if redactions:  # per kind, for the submission page's list of redacted records
            signal = {**signal, "redactions": dict(redactions)}
        checked.append(
            Checked(
                content=content,
                content_hash=content_hash(kind, content),
                detected_language=detected,
                language_score=round(score, 4),
                language_mismatch=langid.is_mismatch(language, detected, score, len(text)),
                pii_redactions=sum(redactions.values()),
                quality=signal,
                bands=band,
                tokens=count,
            )
        )
    return checked


def stored_bands(records: list[tuple[str, dict]]) -> list[list[int]]:
    """The band hashes of stored ``(kind, content)`` records (normalised and redacted), as check_records makes them."""
    texts = ["\n\n".join(text_fields(kind, content)) for kind, content in records]
    return minhash.band_hashes_batch([words.split(text) for text in texts])


def _clean(kind: str, content: dict) -> tuple[dict, Counter]:
    redactions = Counter()

    def clean(text: str) -> str:
        redacted, counts = pii.redact_kinds(normalise.normalise_text(text))
        redactions.update(counts)
        return redacted

    return map_texts(kind, content, clean), redactions


def is_blank(kind: str, content: dict) -> bool:
    """After normalisation a record may hold nothing at all."""
    return not any(t.strip() for t in text_fields(kind, content))
