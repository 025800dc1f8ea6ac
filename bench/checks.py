"""The ingest checks, today's code vs a baseline git ref, on the same texts in one run.

    .venv/bin/python bench/checks.py [--records 4000] [--repeats 3] [--baseline-ref main] [--smoke]

Texts: ~1 kB documents in 22 EU languages, drawn from the translations
Django ships (BSD) plus the repo's own test and demo texts; nothing is
downloaded. The baseline is annotation/ingest as of ``--baseline-ref``,
copied from git into a temporary package. Timings are process CPU time
(the machine is shared: wall time counts the waits), best of the repeats,
so records/s is per core. Also measured: per-step time of the new path,
agreement of the windowed language ID with the whole-text label per
window size, equality of every other result with the baseline, and
near-duplicate detection (Jaccard ≥ 0.9 pairs share a band, unrelated
texts do not). Prints one JSON object last; ``--smoke`` runs a small size
and exits non-zero when a result differs.
"""

import argparse
import importlib
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import django.conf  # noqa: E402  (the path above must come first)

from annotation.ingest import checks, langid, minhash, normalise, pii, quality, tokens, words  # noqa: E402

LANGUAGES = "bg cs da de el es et fi fr ga hr hu it lt lv nl pl pt ro sk sl sv".split()
WINDOWS = [100, 150, 200, 300, 500, 1000]
KIND = "pretraining"


def corpus(records: int, seed: int = 0) -> list[tuple[str, str]]:
    """``(language, text)`` pairs of about 1 kB, sentences of one language shuffled together."""
    rng = random.Random(seed)
    pools = {code: _sentences(code) for code in LANGUAGES}
    out = []
    for index in range(records):
        code = LANGUAGES[index % len(LANGUAGES)]
        text = ""
        while len(text) < rng.randint(700, 1400):
            text += ("\n" if rng.random() < 0.15 else " ") + rng.choice(pools[code])
        out.append((code, text.strip()))
    return out


def _sentences(code: str) -> list[str]:
    locale = Path(django.conf.__file__).parent / "locale" / code / "LC_MESSAGES" / "django.po"
    contrib = Path(django.conf.__file__).parents[1] / "contrib"
    found = []
    for path in [locale, *contrib.glob(f"*/locale/{code}/LC_MESSAGES/django.po")]:
        for text in re.findall(r'^msgstr "(.{25,})"$', path.read_text(encoding="utf-8"), flags=re.M):
            if "%" not in text and "{" not in text:
                found.append(text.replace('\\"', '"'))
    return found


def baseline(ref: str, folder: Path):
    """annotation/ingest as of ``ref``, importable as ``baseline_ingest``."""
    package = folder / "baseline_ingest"
    package.mkdir()
    names = subprocess.run(["git", "ls-tree", "--name-only", f"{ref}:annotation/ingest"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.split()
    for name in names:
        if name.endswith(".py"):
            source = subprocess.run(["git", "show", f"{ref}:annotation/ingest/{name}"], cwd=ROOT, check=True,
                                    capture_output=True, text=True).stdout
            (package / name).write_text(source)
    sys.path.insert(0, str(folder))
    return importlib.import_module("baseline_ingest.checks")


def run_old(old, docs):
    return [old.check_record(KIND, {"text": text}, language=code, tokenizer="regex") for code, text in docs]


def run_new(docs):
    by_language = {}
    for index, (code, text) in enumerate(docs):
        by_language.setdefault(code, []).append((index, text))
    out = [None] * len(docs)
    for code, items in by_language.items():
        results = checks.check_records(KIND, [{"text": t} for _, t in items], language=code, tokenizer="regex")
        for (index, _), result in zip(items, results):
            out[index] = result
    return out


def cpu(function, *args, repeats: int = 1):
    """Best process CPU time of ``repeats`` calls, and the last result."""
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        result = function(*args)
        best = min(best, time.process_time() - started)
    return best, result


def compare(old_results, new_results) -> dict:
    fields = ["content", "content_hash", "pii_redactions", "quality", "tokens"]
    differ = {f: sum(getattr(a, f) != getattr(b, f) for a, b in zip(old_results, new_results)) for f in fields}
    same_language = sum(a.detected_language == b.detected_language for a, b in zip(old_results, new_results))
    mismatch_flags = sum(a.language_mismatch != b.language_mismatch for a, b in zip(old_results, new_results))
    return {"differ": differ, "language_agreement_with_baseline": round(same_language / len(new_results), 4),
            "mismatch_flag_changes": mismatch_flags}


def step_times(docs, repeats: int) -> dict:
    """CPU µs per record of each step of the new path, run as check_records runs them."""
    texts = [text for _, text in docs]
    times = {}
    times["normalise"], cleaned = cpu(lambda: [normalise.normalise_text(t) for t in texts], repeats=repeats)
    times["pii"], _ = cpu(lambda: [pii.redact(t) for t in cleaned], repeats=repeats)
    times["split"], splits = cpu(lambda: [words.split(t) for t in cleaned], repeats=repeats)
    times["langid"], _ = cpu(lambda: [langid.identify(t) for t in cleaned], repeats=repeats)
    times["quality"], _ = cpu(quality.quality_signals_batch, cleaned, splits, "de", repeats=repeats)
    times["minhash"], _ = cpu(minhash.band_hashes_batch, splits, repeats=repeats)
    times["tokens"], _ = cpu(tokens.count_batch, "regex", cleaned, repeats=repeats)
    return {name: round(seconds / len(docs) * 1e6, 1) for name, seconds in times.items()}


def langid_agreement(docs) -> dict:
    """Share of texts whose windowed label equals the whole-text label, per window size, on 1 kB and 3 kB texts."""
    long_docs = [(docs[i][0], " ".join(docs[j][1] for j in range(i, i + 3 * len(LANGUAGES), len(LANGUAGES))))
                 for i in range(0, len(docs) - 3 * len(LANGUAGES))]
    out = {}
    for name, sample in (("1kB", docs), ("3kB", long_docs)):
        whole = [langid.identify(text, window=None)[0] for _, text in sample]
        declared = sum(w == c for w, (c, _) in zip(whole, sample))
        out[name] = {"texts": len(sample), "whole_text_is_declared": round(declared / len(sample), 4)}
        for window in WINDOWS:
            labels = [langid.identify(text, window=window)[0] for _, text in sample]
            out[name][window] = round(sum(a == b for a, b in zip(labels, whole)) / len(sample), 4)
    return out


def near_duplicates(docs, rng) -> dict:
    """Pairs at Jaccard ≥ 0.9 (one word in 120 replaced) must share a band; neighbours in the corpus must not."""
    texts = [text for _, text in docs[:300]]
    edited = []
    for text in texts:
        tokens_ = text.split()
        for _ in range(max(1, len(tokens_) // 120)):
            tokens_[rng.randrange(len(tokens_))] = "Zzyzx"
        edited.append(" ".join(tokens_))
    splits = [words.split(t) for t in texts + edited]
    bands = minhash.band_hashes_batch(splits)
    similar, shared = 0, 0
    for i in range(len(texts)):
        a, b = set(_shingles(splits[i])), set(_shingles(splits[len(texts) + i]))
        if len(a & b) / len(a | b) >= 0.9:
            similar += 1
            shared += any(x == y for x, y in zip(bands[i], bands[len(texts) + i]))
    unrelated = sum(any(x == y for x, y in zip(bands[i], bands[i + 1])) for i in range(len(texts) - 1))
    return {"pairs_at_jaccard_0_9": similar, "of_which_share_a_band": shared,
            "unrelated_pairs": len(texts) - 1, "unrelated_pairs_sharing_a_band": unrelated}


def _shingles(split):
    return words.ngram_keys(split.folded, minhash.SHINGLE_WORDS).tolist()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline-ref", default="main")
    parser.add_argument("--smoke", action="store_true", help="200 records, one repeat; exit 1 when a result differs")
    args = parser.parse_args()
    if args.smoke:
        args.records, args.repeats = 200, 1
    docs = corpus(args.records)
    with tempfile.TemporaryDirectory() as folder:
        old = baseline(args.baseline_ref, Path(folder))
        run_old(old, docs[:50]), run_new(docs[:50])  # models loaded, caches warm
        old_times, new_times = [], []
        for _ in range(args.repeats):  # interleaved, so both see the same machine
            seconds, old_results = cpu(run_old, old, docs)
            old_times.append(seconds)
            seconds, new_results = cpu(run_new, docs)
            new_times.append(seconds)
    figures = {
        "records": len(docs),
        "mean_chars": round(sum(len(t) for _, t in docs) / len(docs)),
        "baseline_ref": args.baseline_ref,
        "old_records_per_s": round(len(docs) / min(old_times)),
        "new_records_per_s": round(len(docs) / min(new_times)),
        "speedup": round(min(old_times) / min(new_times), 2),
        "new_steps_us": step_times(docs, args.repeats),
        **compare(old_results, new_results),
        "langid_window": langid.WINDOW,
        "langid_agreement": langid_agreement(docs[: min(len(docs), 1100)]),
        "near_duplicates": near_duplicates(docs, random.Random(1)),
    }
    for name, value in figures.items():
        print(f"{name}: {value}")
    print(json.dumps(figures))
    near = figures["near_duplicates"]
    broken = any(figures["differ"].values()) or near["of_which_share_a_band"] < near["pairs_at_jaccard_0_9"]
    return 1 if broken and args.smoke else 0


if __name__ == "__main__":
    sys.exit(main())
