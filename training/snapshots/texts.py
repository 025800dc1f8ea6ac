"""Pretraining text for the snapshot stream, read from the ingest chunks' Parquet files.

The stream walks records by primary key, which follows ingest: rows of one
chunk arrive together, so a few files held at a time serve it, each read
once. Memory holds those files' text, never the corpus.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict

from django.core.files.storage import default_storage

from annotation.corpus import record_files
from annotation.models import IngestChunk

FILES_HELD = 4


class ChunkTexts:
    """``text`` by ``(submission, line)``, from the file of the chunk that stored the record."""

    def __init__(self):
        self._chunks: dict[int, tuple[list[int], list[str]]] = {}
        self._files: OrderedDict[str, dict[int, str]] = OrderedDict()

    def fill(self, columns: dict[str, list]) -> None:
        """Set the ``text`` of the batch's pretraining rows whose row holds none (not sampled for review)."""
        texts, kinds = columns["text"], columns["kind"]
        for i, (text, kind) in enumerate(zip(texts, kinds)):
            if text is None and kind == "pretraining":
                texts[i] = self.text(columns["submission_id"][i], columns["line"][i])

    def text(self, submission_id: int, line: int) -> str | None:
        firsts, files = self._chunks_of(submission_id)
        at = bisect.bisect_right(firsts, line) - 1
        if at < 0 or not files[at]:
            return None
        return self._file(files[at]).get(line)

    def _chunks_of(self, submission_id: int) -> tuple[list[int], list[str]]:
        if submission_id not in self._chunks:
            rows = IngestChunk.objects.filter(submission_id=submission_id).order_by("first_line")
            pairs = list(rows.values_list("first_line", "records_file"))
            self._chunks[submission_id] = ([p[0] for p in pairs], [p[1] for p in pairs])
        return self._chunks[submission_id]

    def _file(self, name: str) -> dict[int, str]:
        if name in self._files:
            self._files.move_to_end(name)
        else:
            self._files[name] = record_files.texts(default_storage, name)
            if len(self._files) > FILES_HELD:
                self._files.popitem(last=False)
        return self._files[name]
