"""Pretraining text for the snapshot stream, read from the ingest chunks' Parquet files.

The stream walks records by primary key, which follows ingest: rows of one
chunk arrive together, so a few files held at a time serve it, each read
once. Memory holds those files' ``line`` and ``text`` columns, never the
corpus. A batch is joined with them in Arrow: per file, the rows' positions
found by one sorted search of its ``line`` column and its texts gathered by
one ``take``; the text never becomes Python strings.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from django.core.files.storage import default_storage

from annotation.corpus import record_files
from annotation.models import IngestChunk

FILES_HELD = 4


class ChunkTexts:
    """``text`` by ``(submission, line)``, from the file of the chunk that stored the record."""

    def __init__(self, language: str | None = None):
        """With ``language``, the chunks of its submissions are read now and no query runs later.

        A record has its submission's language, so they are all the chunks its
        records can be in; the stream needs that while COPY holds the connection.
        """
        self._chunks: dict[int, tuple[np.ndarray, list[str]]] = {}
        self._files: OrderedDict[str, tuple[np.ndarray, pa.Array]] = OrderedDict()
        self._all_read = language is not None
        if language is not None:
            chunks = IngestChunk.objects.filter(submission__language__code=language)
            chunks = chunks.order_by("submission_id", "first_line")
            found: dict[int, list] = {}
            for submission_id, first_line, name in chunks.values_list("submission_id", "first_line", "records_file"):
                found.setdefault(submission_id, []).append((first_line, name))
            for submission_id, pairs in found.items():
                self._chunks[submission_id] = (np.array([p[0] for p in pairs], dtype=np.int64), [p[1] for p in pairs])

    def fill(self, columns: dict) -> None:
        """Make ``columns["text"]`` a string array: each pretraining row without a text gets its file's.

        ``submission_id``, ``line``, ``kind`` and ``text`` are Arrow arrays or
        lists. A row whose chunk has no file, or whose line its file lacks,
        keeps ``None``.
        """
        texts = pa.array(columns["text"], type=pa.string())
        wanted = pc.and_(texts.is_null(), pc.equal(pa.array(columns["kind"], type=pa.string()), "pretraining"))
        rows = np.flatnonzero(wanted.to_numpy(zero_copy_only=False))
        columns["text"] = texts
        if not len(rows):
            return
        submissions = np.asarray(columns["submission_id"], dtype=np.int64)[rows]
        lines = np.asarray(columns["line"], dtype=np.int64)[rows]
        found, placed = [], []  # per file: its texts for the rows, and those rows' positions in the batch
        for submission_id in np.unique(submissions):
            mine = np.flatnonzero(submissions == submission_id)
            firsts, files = self._chunks_of(int(submission_id))
            # The chunk of each line: the last one starting at or before it.
            at = np.searchsorted(firsts, lines[mine], side="right") - 1
            for k in np.unique(at):
                if k < 0 or not files[k]:
                    continue
                picked = mine[at == k]
                found.append(self._lookup(files[k], lines[picked]))
                placed.append(rows[picked])
        if not found:
            return
        found, placed = (found[0] if len(found) == 1 else pa.concat_arrays(found)), np.concatenate(placed)
        if len(placed) == len(texts) and (placed == np.arange(len(texts))).all():
            columns["text"] = found  # the usual batch: every row from the files, in order
            return
        source = np.full(len(texts), -1, dtype=np.int64)  # each row's place in ``found``
        source[placed] = np.arange(len(placed))
        columns["text"] = pc.coalesce(texts, found.take(pa.array(source, mask=source < 0)))

    def _lookup(self, name: str, lines: np.ndarray) -> pa.Array:
        """The texts at ``lines`` in file ``name`` (its rows are in line order); null where it has no such line."""
        file_lines, file_texts = self._file(name)
        if not len(file_lines):
            return pa.nulls(len(lines), type=pa.string())
        at = np.minimum(np.searchsorted(file_lines, lines), len(file_lines) - 1)
        missing = file_lines[at] != lines
        if not missing.any() and at[-1] - at[0] == len(at) - 1:  # the usual run of consecutive lines: no copy
            return file_texts.slice(int(at[0]), len(at))
        return file_texts.take(pa.array(at, mask=missing))

    def _chunks_of(self, submission_id: int) -> tuple[np.ndarray, list[str]]:
        if submission_id not in self._chunks and self._all_read:
            return np.empty(0, dtype=np.int64), []
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
            lines = np.asarray(table.column("line"), dtype=np.int64)
            self._files[name] = (lines, table.column("text").combine_chunks())
            if len(self._files) > FILES_HELD:
                self._files.popitem(last=False)
        return self._files[name]
