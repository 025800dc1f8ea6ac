"""Pretraining text for the snapshot stream, read from the ingest chunks' Parquet files.

The stream walks records by primary key, which follows ingest: rows of one
chunk arrive together, so a few files held at a time serve it, each read
once. Memory holds those files' ``line`` and ``text`` columns, never the
corpus. A batch is joined with them in arrays (sorted-search indices and one
``take`` per file), not row by row.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pyarrow as pa
from django.core.files.storage import default_storage

from annotation.corpus import record_files
from annotation.models import IngestChunk

FILES_HELD = 4


class ChunkTexts:
    """``text`` by ``(submission, line)``, from the file of the chunk that stored the record."""

    def __init__(self):
        self._chunks: dict[int, tuple[np.ndarray, list[str]]] = {}
        self._files: OrderedDict[str, tuple[np.ndarray, pa.Array]] = OrderedDict()

    def fill(self, columns: dict[str, list]) -> None:
        """Set the ``text`` of the batch's pretraining rows whose row holds none (not sampled for review).

        A row whose chunk has no file, or whose line its file lacks, keeps ``None``.
        """
        texts = columns["text"]
        wanted = [i for i, (text, kind) in enumerate(zip(texts, columns["kind"])) if text is None and kind == "pretraining"]
        if not wanted:
            return
        rows = np.array(wanted, dtype=np.int64)
        submissions = np.array(columns["submission_id"], dtype=np.int64)[rows]
        lines = np.array(columns["line"], dtype=np.int64)[rows]
        for submission_id in np.unique(submissions):
            mine = submissions == submission_id
            firsts, files = self._chunks_of(int(submission_id))
            # The chunk of each line: the last one starting at or before it.
            at = np.searchsorted(firsts, lines[mine], side="right") - 1
            for k in np.unique(at):
                if k < 0 or not files[k]:
                    continue
                picked = at == k
                found = self._lookup(files[k], lines[mine][picked])
                for i, text in zip(rows[mine][picked].tolist(), found):
                    texts[i] = text

    def _lookup(self, name: str, lines: np.ndarray) -> list[str | None]:
        """The texts at ``lines`` in file ``name`` (its rows are in line order); ``None`` where it has no such line."""
        file_lines, file_texts = self._file(name)
        if not len(file_lines):
            return [None] * len(lines)
        at = np.minimum(np.searchsorted(file_lines, lines), len(file_lines) - 1)
        missing = file_lines[at] != lines
        return file_texts.take(pa.array(at, mask=missing)).to_pylist()

    def _chunks_of(self, submission_id: int) -> tuple[np.ndarray, list[str]]:
        if submission_id not in self._chunks:
            rows = IngestChunk.objects.filter(submission_id=submission_id).order_by("first_line")
            pairs = list(rows.values_list("first_line", "records_file"))
            self._chunks[submission_id] = (np.array([p[0] for p in pairs], dtype=np.int64), [p[1] for p in pairs])
        return self._chunks[submission_id]

    def _file(self, name: str) -> tuple[np.ndarray, pa.Array]:
        if name in self._files:
            self._files.move_to_end(name)
        else:
            table = record_files.read(default_storage, name, ["line", "text"])
            lines = table.column("line").to_numpy()
            self._files[name] = (lines, table.column("text").combine_chunks())
            if len(self._files) > FILES_HELD:
                self._files.popitem(last=False)
        return self._files[name]
