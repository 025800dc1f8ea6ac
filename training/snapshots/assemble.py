"""The streaming heart of a build: records in, shard rows out, figures tallied.

One language at a time, records arrive in batches, in a fixed order; each
record is placed in a split, checked against the evaluation items, repeated
as the mixture and upsampling say, and appended to its split's shard
writer. The placement is per record (split.py); the rest works on a whole
batch in columns, which is what makes a million records cheap. Memory
holds one batch, less than a row group per open writer, the evaluation
index, and per-submission tallies.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from operator import itemgetter
from pathlib import Path

import numpy as np
from django.conf import settings

from annotation.ingest.schemas import text_fields
from annotation.ingest.tokens import get_counter

from . import preference, select
from .contamination import EvaluationIndex
from .params import SPLITS
from .split import copies_each, splits_of, upsample_factor
from .writer import ShardWriter, table_for

FERTILITY_SAMPLE = 2_000  # records per language the tokenizer sees
PROGRESS_EVERY = 5_000
TRAIN, TEST = SPLITS.index("train"), SPLITS.index("test")
_NOT_WRITTEN = {"content_hash", "cluster"}


class Assembly:
    def __init__(self, root: Path, params: dict, weights: dict[str, float], index: EvaluationIndex,
                 on_progress: Callable[[int], None] = lambda done: None):
        self.root, self.params, self.weights, self.index = root, params, weights, index
        self.on_progress = on_progress
        self.counts: dict = {}
        self.lineage: dict = defaultdict(lambda: {"records": 0, "tokens": 0, "splits": defaultdict(int)})
        self.contamination = {"items": index.items, "exact": 0, "near": 0, "per_language": {}}
        self.fertility: dict[str, float] = {}
        self.epochs: dict[str, dict] = {}  # per language: the most and the mean copies of a training record
        self.shards: list[dict] = []
        self.streamed = 0
        self._counter = get_counter(params["tokenizer"]) if params["tokenizer"] else None

    def language(self, language: str) -> None:
        params = self.params
        sizes = select.cluster_sizes(language) if params["upsampling"] else {}
        writers: dict[str, ShardWriter] = {}
        sample = {"words": 0, "tokens": 0, "records": 0}
        repeats = {"records": 0, "rows": 0, "max": 0}
        selection = select.records_for(params, language)
        for batch in select.stream(selection, params["kinds"]):
            splits, copies = self._place(batch, language, sizes)
            _count_repeats(splits, copies, repeats)
            if self._counter:
                self._sample(batch, copies, sample)
            self._write(batch, language, splits, copies, writers, selection.sources)
            before, self.streamed = self.streamed, self.streamed + len(splits)
            if self.streamed // PROGRESS_EVERY > before // PROGRESS_EVERY:
                self.on_progress(self.streamed)
        for split in SPLITS:  # a fixed order, so the shard list is too
            if split in writers:
                self.shards.extend(writers[split].close())
        if sample["words"]:
            self.fertility[language] = round(sample["tokens"] / sample["words"], 4)
        mean = repeats["rows"] / repeats["records"] if repeats["records"] else 0.0
        self.epochs[language] = {"max": repeats["max"], "mean": round(mean, 4)}

    def _place(self, batch: dict, language: str, sizes: dict) -> tuple[list[int], list[int]]:
        """Per record: its split (an index into SPLITS) and its copies; 0 copies leaves it out."""
        params, hashes = self.params, batch["content_hash"]
        splits = splits_of(hashes, seed=params["seed"], fractions=params["splits"])
        weight = self.weights[language]
        if sizes:
            weights = [weight * upsample_factor(sizes.get(c, 1), params["upsampling"]) for c in batch["cluster"]]
        else:
            weights = [weight] * len(hashes)
        copies = copies_each(hashes, weights, seed=params["seed"])
        if max(copies, default=0) > 1:
            # Repeats belong to training only: a repeated validation row measures nothing new.
            # The estimate refused weights beyond the cap; min() only absorbs float rounding at an exact fit.
            cap = params["max_epochs"]
            copies = [min(c, cap) if s == TRAIN else min(c, 1) for s, c in zip(splits, copies)]
        if self.index.items or "evaluation" in params["kinds"]:
            self._check_items(batch, language, splits, copies)
        return splits, copies

    def _check_items(self, batch: dict, language: str, splits: list[int], copies: list[int]) -> None:
        """Evaluation items to test, once; training records that match an item counted, and dropped if asked."""
        for i, kind in enumerate(batch["kind"]):
            if kind == "evaluation":
                splits[i], copies[i] = TEST, 1  # evaluation items never enter training
                continue
            match = self.index.match(batch["id"][i], kind, select.content_of(batch, kind, i))
            if match:
                self.contamination[match] += 1
                per = self.contamination["per_language"].setdefault(language, {"exact": 0, "near": 0})
                per[match] += 1
                if self.params["decontaminate"]:
                    copies[i] = 0

    def _sample(self, batch: dict, copies: list[int], sample: dict) -> None:
        """Words and tokens of the first records written, for the card's fertility figure."""
        for i, kind in enumerate(batch["kind"]):
            if sample["records"] >= FERTILITY_SAMPLE:
                return
            if copies[i] and kind != "evaluation":
                text = "\n\n".join(text_fields(kind, select.content_of(batch, kind, i)))
                sample["words"] += len(text.split())
                sample["tokens"] += self._counter(text)
                sample["records"] += 1

    def _write(self, batch: dict, language: str, splits: list[int], copies: list[int], writers: dict,
               sources: dict[int, int]) -> None:
        picked = _picked(splits, copies)
        plain = all(c == 1 for c in copies)
        for k, split in enumerate(SPLITS):
            rows = picked[k]
            if not rows:
                continue
            whole = plain and len(rows) == len(splits)  # every record, once: the batch as it came
            columns = {name: (values if whole else _pick(values, rows))
                       for name, values in batch.items() if name not in _NOT_WRITTEN}
            columns |= {"record_id": columns["id"], "language": [language] * len(rows)}
            if "preference" in self.params["kinds"]:
                columns = preference.pairs(columns, tokenizer=settings.INGEST["TOKENIZER"])
            if split not in writers:
                writers[split] = ShardWriter(self.root, language, split, rows_per_shard=self.params["rows_per_shard"],
                                             row_group_rows=self.params["row_group_rows"])
            writers[split].add(table_for(columns, len(columns["record_id"])))
            self._tally(language, split, columns["submission_id"], columns["tokens"])
            if sources:
                self._credit_sources(split, columns["record_id"], columns["tokens"], sources)

    def _tally(self, language: str, split: str, submissions: list[int], tokens: list[int]) -> None:
        cell = self.counts.setdefault(language, {}).setdefault(split, {"records": 0, "tokens": 0})
        cell["records"] += len(submissions)
        cell["tokens"] += sum(tokens)
        if len(set(submissions)) == 1:  # the usual batch: one submission's records
            per = {submissions[0]: (len(submissions), sum(tokens))}
        else:
            per = defaultdict(lambda: (0, 0))
            for submission, count in zip(submissions, tokens):
                rows, total = per[submission]
                per[submission] = (rows + 1, total + count)
        for submission, (rows, total) in per.items():
            line = self.lineage[submission]
            line["records"] += rows
            line["tokens"] += total
            line["splits"][split] += rows

    def _credit_sources(self, split: str, record_ids, tokens, sources: dict[int, int]) -> None:
        """Lineage rows for the submissions whose prompts written pairs hold (``Selection.sources``)."""
        for record_id, count in zip(preference.as_list(record_ids), preference.as_list(tokens)):
            if record_id in sources:
                line = self.lineage[sources[record_id]]
                line["records"] += 1
                line["tokens"] += count
                line["splits"][split] += 1


def _count_repeats(splits: list[int], copies: list[int], repeats: dict) -> None:
    """Add a batch's training records (written at least once) and rows to ``repeats``, and its most copies."""
    trained = [c for s, c in zip(splits, copies) if s == TRAIN and c]
    repeats["records"] += len(trained)
    repeats["rows"] += sum(trained)
    repeats["max"] = max(repeats["max"], max(trained, default=0))


def _picked(splits: list[int], copies: list[int]) -> tuple[list[int], ...]:
    """Per split, the batch's row numbers to write: each record ``copies`` times in a row, in stream order."""
    rows = np.repeat(np.arange(len(splits)), copies)
    placed = np.repeat(np.asarray(splits), copies)
    return tuple(rows[placed == k].tolist() for k in range(len(SPLITS)))


def _pick(values: list, rows: list[int]) -> list:
    # itemgetter does the gathering in C; for one row it returns the value, not a tuple.
    return list(itemgetter(*rows)(values)) if len(rows) > 1 else [values[rows[0]]]
