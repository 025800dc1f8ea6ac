"""Reading records' content where it is: the row, or for pretraining text, the chunk's Parquet file."""

import bisect

from django.core.files.storage import default_storage

from annotation.corpus import record_files
from annotation.models import IngestChunk, Record
from annotation.models.submissions import Kind


def record_text_read(record: Record) -> dict:
    """The record's content: its own column, or for a pretraining record not sampled, its chunk file's text."""
    if record.content or record.kind != Kind.PRETRAINING:
        return record.content
    return records_text_read([record]).get(record.pk, {})


def records_text_read(records: list[Record]) -> dict[int, dict]:
    """``{id: content}`` of some records, each chunk file read once (only its row groups holding them).

    For pages and commands that show or use a bounded number of records;
    snapshots stream text their own way (training.snapshots.texts).
    """
    found = {r.pk: r.content for r in records if r.content or r.kind != Kind.PRETRAINING}
    wanted = [r for r in records if r.pk not in found]
    chunks = IngestChunk.objects.filter(submission_id__in={r.submission_id for r in wanted}).order_by("first_line")
    firsts: dict[int, list[int]] = {}
    files: dict[int, list[str]] = {}
    for submission_id, first_line, name in chunks.values_list("submission_id", "first_line", "records_file"):
        firsts.setdefault(submission_id, []).append(first_line)
        files.setdefault(submission_id, []).append(name)
    by_file: dict[str, list[Record]] = {}
    for record in wanted:
        at = bisect.bisect_right(firsts.get(record.submission_id, []), record.line) - 1
        name = files[record.submission_id][at] if at >= 0 else ""
        if name:
            by_file.setdefault(name, []).append(record)
    for name, group in by_file.items():
        texts = record_files.texts(default_storage, name, [r.line for r in group])
        found |= {r.pk: {"text": texts[r.line]} for r in group if r.line in texts}
    return found
