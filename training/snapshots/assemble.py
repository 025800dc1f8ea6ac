"""The streaming heart of a build: records in, shard rows out, figures tallied.

One language at a time, records arrive in a fixed order; each is placed in
a split, checked against the evaluation items, repeated as the mixture and
upsampling say, and appended to its split's shard writer. Memory holds one
row group per open writer, the evaluation index, and per-submission tallies.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from annotation.ingest.schemas import text_fields
from annotation.ingest.tokens import get_counter

from . import select
from .contamination import EvaluationIndex
from .split import copies_of, split_of, upsample_factor
from .writer import ShardWriter, row_for

FERTILITY_SAMPLE = 2_000  # records per language the tokenizer sees
PROGRESS_EVERY = 5_000


class Assembly:
    def __init__(self, root: Path, params: dict, weights: dict[str, float], index: EvaluationIndex,
                 on_progress: Callable[[int], None] = lambda done: None):
        self.root, self.params, self.weights, self.index = root, params, weights, index
        self.on_progress = on_progress
        self.counts: dict = {}
        self.lineage: dict = defaultdict(lambda: {"records": 0, "tokens": 0, "splits": defaultdict(int)})
        self.contamination = {"items": index.items, "exact": 0, "near": 0, "per_language": {}}
        self.fertility: dict[str, float] = {}
        self.shards: list[dict] = []
        self.streamed = 0
        self._counter = get_counter(params["tokenizer"]) if params["tokenizer"] else None

    def language(self, language: str) -> None:
        params = self.params
        sizes = select.cluster_sizes(language) if params["upsampling"] else {}
        writers: dict[str, ShardWriter] = {}
        words = tokens = sampled = 0
        qs = select.records_for(params, language)
        for record in select.stream(qs):
            self.streamed += 1
            if self.streamed % PROGRESS_EVERY == 0:
                self.on_progress(self.streamed)
            split, copies = self._place(record, language, sizes)
            if not copies:
                continue
            if self._counter and sampled < FERTILITY_SAMPLE and record["kind"] != "evaluation":
                text = "\n\n".join(text_fields(record["kind"], record["content"]))
                words, tokens, sampled = words + len(text.split()), tokens + self._counter(text), sampled + 1
            writer = writers.get(split) or writers.setdefault(split, self._writer(language, split))
            writer.add(row_for(record, language), copies)
            self._tally(language, split, record, copies)
        for writer in writers.values():
            self.shards.extend(writer.close())
        if words:
            self.fertility[language] = round(tokens / words, 4)

    def _place(self, record: dict, language: str, sizes: dict) -> tuple[str, int]:
        """(split, copies); copies 0 leaves the record out."""
        params = self.params
        if record["kind"] == "evaluation":
            return "test", 1  # evaluation items never enter training
        match = self.index.match(record)
        if match:
            self.contamination[match] += 1
            per = self.contamination["per_language"].setdefault(language, {"exact": 0, "near": 0})
            per[match] += 1
            if params["decontaminate"]:
                return "", 0
        split = split_of(record["content_hash"], seed=params["seed"], fractions=params["splits"])
        weight = self.weights[language] * upsample_factor(sizes.get(record["cluster"], 1), params["upsampling"])
        copies = copies_of(record["content_hash"], seed=params["seed"], weight=weight)
        # Repeats belong to training only: a repeated validation row measures nothing new.
        return split, (copies if split == "train" else min(copies, 1))

    def _writer(self, language: str, split: str) -> ShardWriter:
        return ShardWriter(self.root, language, split, rows_per_shard=self.params["rows_per_shard"],
                           row_group_rows=self.params["row_group_rows"])

    def _tally(self, language: str, split: str, record: dict, copies: int) -> None:
        cell = self.counts.setdefault(language, {}).setdefault(split, {"records": 0, "tokens": 0})
        cell["records"] += copies
        cell["tokens"] += copies * record["tokens"]
        line = self.lineage[record["submission_id"]]
        line["records"] += copies
        line["tokens"] += copies * record["tokens"]
        line["splits"][split] += copies
