"""The streaming heart of a build: records in, shard rows out, figures tallied.

One language at a time, records arrive in batches, in a fixed order; each
record is placed in a split, checked against the evaluation items, repeated
as the mixture and upsampling say, and appended to its split's shard
writer. A batch stays in columns from the cursor to the shard (Arrow
arrays, numpy for the placement); only rows the evaluation index cannot
rule out in bulk, and the few the fertility figure samples, are looked at
one by one. Memory holds one batch, less than a row group per open writer,
the evaluation index, and per-submission tallies.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
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
        # Per submission credited, what the filters let through before placement: the build's licence check.
        self.selected: dict = defaultdict(lambda: {"records": 0, "tokens": 0})
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
        try:
            selection = select.records_for(params, language)
            for batch in select.stream(selection, params["kinds"], language, clusters=bool(sizes)):
                self._select(batch, selection.sources)
                splits, copies = self._place(batch, language, sizes)
                _count_repeats(splits, copies, repeats)
                if self._counter:
                    self._sample(batch, copies, sample)
                self._write(batch, language, splits, copies, writers, selection.sources)
                before, self.streamed = self.streamed, self.streamed + len(splits)
                if self.streamed // PROGRESS_EVERY > before // PROGRESS_EVERY:
                    self.on_progress(self.streamed)
        except BaseException:
            for writer in writers.values():  # their threads go now, not when collected
                writer.discard()
            raise
        for split in SPLITS:  # a fixed order, so the shard list is too
            if split in writers:
                self.shards.extend(writers[split].close())
        if sample["words"]:
            self.fertility[language] = round(sample["tokens"] / sample["words"], 4)
        mean = repeats["rows"] / repeats["records"] if repeats["records"] else 0.0
        self.epochs[language] = {"max": repeats["max"], "mean": round(mean, 4)}

    def _place(self, batch: dict, language: str, sizes: dict) -> tuple[np.ndarray, np.ndarray]:
        """Per record: its split (an index into SPLITS) and its copies; 0 copies leaves it out."""
        params, hashes = self.params, batch["content_hash"]
        splits = splits_of(hashes, seed=params["seed"], fractions=params["splits"])
        weights = np.full(len(hashes), self.weights[language])
        if sizes:
            weights *= _upsampling(batch["cluster"].to_numpy(), sizes, params["upsampling"])
        copies = copies_each(hashes, weights, seed=params["seed"])
        if len(copies) and copies.max() > 1:
            # Repeats belong to training only: a repeated validation row measures nothing new.
            # The estimate refused weights beyond the cap; min() only absorbs float rounding at an exact fit.
            copies = np.minimum(copies, np.where(splits == TRAIN, params["max_epochs"], 1))
        if self.index.items or "evaluation" in params["kinds"]:
            self._check_items(batch, language, splits, copies)
        return splits, copies

    def _check_items(self, batch: dict, language: str, splits: np.ndarray, copies: np.ndarray) -> None:
        """Evaluation items to test, once; training records that match an item counted, and dropped if asked."""
        kinds = np.asarray(batch["kind"].to_pylist(), dtype=object)
        evaluation = kinds == "evaluation"
        splits[evaluation], copies[evaluation] = TEST, 1  # evaluation items never enter training
        if not self.index.items:
            return
        # Only the rows the index cannot rule out in bulk are matched one by one.
        pretraining = kinds == "pretraining"
        maybe = ~pretraining | self.index.maybe(batch["id"], batch["text"] if pretraining.any() else None)
        for i in np.flatnonzero(maybe & ~evaluation).tolist():
            kind = kinds[i]
            match = self.index.match(batch["id"][i].as_py(), kind, select.content_of(batch, kind, i))
            if match:
                self.contamination[match] += 1
                per = self.contamination["per_language"].setdefault(language, {"exact": 0, "near": 0})
                per[match] += 1
                if self.params["decontaminate"]:
                    copies[i] = 0

    def _sample(self, batch: dict, copies: np.ndarray, sample: dict) -> None:
        """Words and tokens of the first records written, for the card's fertility figure."""
        if sample["records"] >= FERTILITY_SAMPLE:
            return
        kinds = batch["kind"].to_pylist()
        for i in np.flatnonzero(copies).tolist():
            if sample["records"] >= FERTILITY_SAMPLE:
                return
            if kinds[i] != "evaluation":
                text = "\n\n".join(text_fields(kinds[i], select.content_of(batch, kinds[i], i)))
                sample["words"] += len(text.split())
                sample["tokens"] += self._counter(text)
                sample["records"] += 1

    def _write(self, batch: dict, language: str, splits: np.ndarray, copies: np.ndarray, writers: dict,
               sources: dict[int, int]) -> None:
        picked = _picked(splits, copies)
        columns = {name: values for name, values in batch.items() if name not in _NOT_WRITTEN}
        columns |= {"record_id": columns["id"], "language": pa.array([language] * len(splits), type=pa.string())}
        pairs = "preference" in self.params["kinds"]
        table = None if pairs else table_for(columns, len(splits))
        submissions, tokens = batch["submission_id"].to_numpy(), batch["tokens"].to_numpy()
        plain = bool((copies == 1).all())
        once = not len(copies) or copies.max() <= 1  # no repeats: a split's rows are a filter of the batch
        for k, split in enumerate(SPLITS):
            rows = picked[k]
            if not len(rows):
                continue
            whole = plain and len(rows) == len(splits)  # every record, once: the batch as it came
            if split not in writers:
                writers[split] = ShardWriter(self.root, language, split, rows_per_shard=self.params["rows_per_shard"],
                                             row_group_rows=self.params["row_group_rows"])
            if not pairs:
                writers[split].add(table if whole else _cut(table, rows, (splits == k) & (copies > 0), once))
                self._tally(language, split, submissions[rows], tokens[rows])
                continue
            # Preference records become one row per pair, so rows and counts are the pairs'.
            part = preference.pairs({name: values if whole else preference.take(values, rows)
                                     for name, values in columns.items()}, tokenizer=settings.INGEST["TOKENIZER"])
            writers[split].add(table_for(part, len(part["record_id"])))
            self._tally(language, split, np.asarray(preference.as_list(part["submission_id"])),
                        np.asarray(preference.as_list(part["tokens"]), dtype=np.int64))
            if sources:
                self._credit_sources(split, part["record_id"], part["tokens"], sources)

    def _tally(self, language: str, split: str, submissions: np.ndarray, tokens: np.ndarray) -> None:
        cell = self.counts.setdefault(language, {}).setdefault(split, {"records": 0, "tokens": 0})
        cell["records"] += len(submissions)
        cell["tokens"] += int(tokens.sum())
        for submission, rows, total in _per_submission(submissions, tokens):
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

    def _select(self, batch: dict, sources: dict[int, int]) -> None:
        """Tally the records the filters let through, per submission credited, before placement: the licence rows.

        A written pair counts under its source's submission too (``Selection.sources``): both licences apply.
        """
        tokens = batch["tokens"].to_numpy()
        for submission, rows, total in _per_submission(batch["submission_id"].to_numpy(), tokens):
            cell = self.selected[submission]
            cell["records"] += rows
            cell["tokens"] += total
        if sources:
            for record_id, count in zip(batch["id"].to_numpy().tolist(), tokens.tolist()):
                if record_id in sources:
                    cell = self.selected[sources[record_id]]
                    cell["records"] += 1
                    cell["tokens"] += count


def _per_submission(submissions: np.ndarray, tokens: np.ndarray) -> list[tuple[int, int, int]]:
    """(submission, rows, tokens) for each submission among the rows."""
    if not len(submissions):
        return []
    if submissions[0] == submissions[-1] and (submissions == submissions[0]).all():  # the usual batch
        return [(int(submissions[0]), len(submissions), int(tokens.sum()))]
    keys, at = np.unique(submissions, return_inverse=True)
    rows = np.bincount(at)
    totals = np.bincount(at, weights=tokens) if len(tokens) else rows * 0
    return [(int(s), int(r), int(t)) for s, r, t in zip(keys, rows, totals)]


def _upsampling(clusters: np.ndarray, sizes: dict[int, int], table: list) -> np.ndarray:
    """Each record's upsampling factor, from the size of its near-duplicate cluster (1 where it has no duplicates)."""
    factors = np.full(len(clusters), upsample_factor(1, table), dtype=np.float64)
    keys = np.fromiter(sizes, dtype=np.int64, count=len(sizes))
    for i in np.flatnonzero(np.isin(clusters, keys)).tolist():
        factors[i] = upsample_factor(sizes[int(clusters[i])], table)
    return factors


def _count_repeats(splits: np.ndarray, copies: np.ndarray, repeats: dict) -> None:
    """Add a batch's training records (written at least once) and rows to ``repeats``, and its most copies."""
    trained = copies[(splits == TRAIN) & (copies > 0)]
    repeats["records"] += len(trained)
    repeats["rows"] += int(trained.sum())
    repeats["max"] = max(repeats["max"], int(trained.max()) if len(trained) else 0)


def _cut(table: pa.Table, rows: np.ndarray, mask: np.ndarray, once: bool) -> pa.Table:
    """The table's ``rows``; where none repeats, as the rows ``mask`` keeps (a filter copies runs of
    rows at a time: a third faster than a take of every row)."""
    return table.filter(pa.array(mask)) if once else table.take(pa.array(rows))


def _picked(splits: np.ndarray, copies: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per split, the batch's row numbers to write: each record ``copies`` times in a row, in stream order."""
    rows = np.repeat(np.arange(len(splits)), copies)
    placed = np.repeat(splits, copies)
    return tuple(rows[placed == k] for k in range(len(SPLITS)))
