"""Moving pretraining text stored in PostgreSQL before the record files existed into them."""

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Exists, OuterRef

from annotation.corpus import record_files
from annotation.ingest import quality
from annotation.ingest.words import split
from annotation.models import Assignment, IngestChunk, Record
from annotation.models.submissions import Kind

from .record_text import chunk_files_tidy


def records_text_move(*, batch_size: int = 1000) -> int:
    """Write each done pretraining chunk without a file from its records' stored text; returns records moved.

    One chunk at a time: its file is written (records read ``batch_size``
    at a time), then one transaction points the chunk at it and empties the
    column of its records, except those review has drawn (their text stays
    where reviewers read it). Withdrawn records' text is dropped, not moved.
    Idempotent: a chunk with a file is done. Records of submissions without
    chunks keep their text in the column, where every reader still finds it.
    """
    moved = 0
    chunks = IngestChunk.objects.filter(
        submission__kind=Kind.PRETRAINING, status=IngestChunk.Status.DONE, records_file=""
    ).select_related("submission__language")
    for chunk in chunks.order_by("submission_id", "first_line").iterator():
        moved += _chunk_move(chunk, batch_size)
    return moved


def _chunk_records(chunk: IngestChunk):
    later = IngestChunk.objects.filter(submission_id=chunk.submission_id, first_line__gt=chunk.first_line)
    end = later.order_by("first_line").values_list("first_line", flat=True).first()
    records = Record.objects.filter(submission_id=chunk.submission_id, line__gte=chunk.first_line)
    return records.filter(line__lt=end) if end is not None else records


def _chunk_move(chunk: IngestChunk, batch_size: int) -> int:
    records = _chunk_records(chunk).exclude(content={})
    writer, last = record_files.RecordFileWriter(), 0
    language = chunk.submission.language.code
    kept = records.exclude(status=Record.Status.WITHDRAWN).order_by("line")
    while batch := list(kept.filter(line__gt=last).values_list("line", "content")[:batch_size]):
        texts = [content["text"] for _line, content in batch]
        signals = quality.quality_signals_batch(texts, [split(text) for text in texts], language)
        writer.add((line, text, s) for (line, _content), text, s in zip(batch, texts, signals))
        last = batch[-1][0]
    if not writer.rows:
        writer.discard()
        name = ""
    else:
        name = writer.save(default_storage, record_files.file_name(chunk.submission_id, chunk.index))
    drawn = Assignment.objects.filter(record=OuterRef("pk"))
    with transaction.atomic():
        IngestChunk.objects.filter(pk=chunk.pk).update(records_file=name)
        emptied = records.exclude(Exists(drawn)).update(content={})
    chunk.records_file = name
    chunk_files_tidy(chunk=chunk)
    return emptied
