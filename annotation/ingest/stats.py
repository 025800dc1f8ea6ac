"""What a chunk found, kept as plain JSON on the chunk and summed at the end."""

from collections import Counter
from dataclasses import dataclass, field

from . import pii, quality
from .messages import Message


@dataclass
class ChunkStats:
    max_errors: int = 100
    records_read: int = 0
    records_accepted: int = 0
    exact_duplicates: int = 0
    language_mismatches: int = 0
    pii_redactions: int = 0
    tokens: int = 0
    rejections: Counter = field(default_factory=Counter)
    errors: list = field(default_factory=list)
    histograms: dict = field(default_factory=dict)
    # Submission id (as a string: JSON keys) → exact duplicates found there; names the
    # submission an all-duplicates upload repeats.
    duplicates_of: Counter = field(default_factory=Counter)

    def reject(
        self, reason: str, line: int | None = None, message: Message | str | None = None, origin: str = ""
    ) -> None:
        """Count a rejection; keep the first ones as ``{"line", "reason", "message", "template", "params"[, "file"]}``.

        "message" is the English text (what the API and the command line show); the
        portal's pages translate "template" and fill in "params". What a message
        quotes is kept redacted; ``origin`` is the caller's to redact.
        """
        self.rejections[reason] += 1
        if message and len(self.errors) < self.max_errors:
            message = message.redacted() if isinstance(message, Message) else pii.redact(message)[0]
            error = {"line": line, "reason": reason, "message": str(message)}
            if isinstance(message, Message):
                error.update(message.as_dict())
            if ":" in origin:
                error["file"] = origin.rsplit(":", 1)[0]
            self.errors.append(error)

    def as_dict(self) -> dict:
        return {
            "records_read": self.records_read,
            "records_accepted": self.records_accepted,
            "exact_duplicates": self.exact_duplicates,
            "language_mismatches": self.language_mismatches,
            "pii_redactions": self.pii_redactions,
            "tokens": self.tokens,
            "rejections": dict(self.rejections),
            "errors": self.errors,
            "histograms": self.histograms,
            "duplicates_of": dict(self.duplicates_of),
        }


def sum_stats(chunks: list[dict], max_errors: int) -> dict:
    total = {"records_read": 0, "records_accepted": 0, "exact_duplicates": 0, "language_mismatches": 0,
             "pii_redactions": 0, "tokens": 0}
    rejections, errors, histograms, duplicates_of = Counter(), [], {}, Counter()
    for stats in chunks:
        for key in total:
            total[key] += stats.get(key, 0)
        rejections.update(stats.get("rejections", {}))
        errors.extend(stats.get("errors", []))
        histograms = quality.histogram_merge(histograms, stats.get("histograms", {}))
        duplicates_of.update(stats.get("duplicates_of", {}))
    total["rejection_reasons"] = dict(rejections)
    total["records_rejected"] = sum(rejections.values())
    total["errors"] = errors[:max_errors]
    total["quality"] = histograms
    total["duplicates_of"] = dict(duplicates_of)
    return total
