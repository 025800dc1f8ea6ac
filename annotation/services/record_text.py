"""The Parquet files of pretraining text: keeping them tidy, copying text in for review, withdrawal.

Each done chunk of a pretraining submission points at one immutable file
(``IngestChunk.records_file``, see annotation.corpus.record_files). A file
is replaced, never changed: write the new version, point the chunk at it,
delete the old one once the change is committed.
"""

from django.core.files.storage import default_storage
from django.db import transaction

from annotation.corpus import record_files
from annotation.models import IngestChunk, Record, Submission
from annotation.models.submissions import Kind
from annotation.text_selectors import record_text_read


def record_file_delete(name: str) -> None:
    """Delete a records file; nothing for an empty name or a file gone already."""
    if name:
        default_storage.delete(name)


def chunk_files_tidy(*, chunk: IngestChunk) -> None:
    """Delete the chunk's files other than its current one: attempts that crashed or lost the race."""
    current = chunk.records_file.rpartition("/")[2]
    _files_delete(chunk.submission_id, lambda name: name.startswith(f"{chunk.index}-") and name != current)


def submission_files_tidy(*, submission_id: int) -> None:
    """Delete the submission's files no chunk points at: attempts of chunks that never finished.

    For a submission that failed or was withdrawn whole: no later attempt will
    tidy them, and they hold (redacted) text all the same.
    """
    pointed = IngestChunk.objects.filter(submission_id=submission_id).exclude(records_file="")
    current = {name.rpartition("/")[2] for name in pointed.values_list("records_file", flat=True)}
    _files_delete(submission_id, lambda name: name not in current)


def _files_delete(submission_id: int, unwanted) -> None:
    folder = record_files.folder(submission_id)
    try:
        names = default_storage.listdir(folder)[1]
    except FileNotFoundError:  # the data folder has no directory yet; S3 answers an empty list
        return
    for name in names:
        if unwanted(name):
            default_storage.delete(f"{folder}/{name}")


def record_content_fill(*, record: Record) -> None:
    """Copy a sampled pretraining record's text into its row, where review reads and edits it.

    Idempotent: a record whose content is there already is left alone.
    """
    if record.content or record.kind != Kind.PRETRAINING:
        return
    content = record_text_read(record)
    if content:
        Record.objects.filter(pk=record.pk, content={}).update(content=content)
        record.content = content


def record_files_prune(*, submission_id: int) -> int:
    """Rewrite the submission's chunk files without its withdrawn records; returns how many rows went.

    A chunk left with no rows loses its file; a submission withdrawn whole
    loses them all, unread (its lines are never held in memory). Idempotent:
    a file without withdrawn rows is left as it is.
    """
    chunks = IngestChunk.objects.filter(submission_id=submission_id).exclude(records_file="")
    if Submission.objects.filter(pk=submission_id, withdrawn_at__isnull=False).exists():
        submission_files_tidy(submission_id=submission_id)  # before the drop: only files no chunk points at
        return sum(_chunk_drop(chunk) for chunk in chunks)
    # Withdrawn one by one, so they are few.
    withdrawn = set(
        Record.objects.filter(submission_id=submission_id, status=Record.Status.WITHDRAWN).values_list("line", flat=True)
    )
    return sum(_chunk_prune(chunk, withdrawn) for chunk in chunks)


def _chunk_drop(chunk: IngestChunk) -> int:
    rows = record_files.rows(default_storage, chunk.records_file)
    _chunk_point(chunk, "")
    return rows


def _chunk_prune(chunk: IngestChunk, withdrawn: set[int]) -> int:
    lines = record_files.read(default_storage, chunk.records_file, ["line"]).column("line").to_pylist()
    gone = withdrawn.intersection(lines)
    if not gone:
        return 0
    if len(gone) == len(lines):
        _chunk_point(chunk, "")
    else:
        name = record_files.file_name(chunk.submission_id, chunk.index)
        _chunk_point(chunk, record_files.rewrite_without(default_storage, chunk.records_file, name, gone))
    return len(gone)


def _chunk_point(chunk: IngestChunk, name: str) -> None:
    """Point the chunk at file ``name`` (or none); its old file goes once that is committed."""
    old = chunk.records_file
    with transaction.atomic():
        IngestChunk.objects.filter(pk=chunk.pk, records_file=old).update(records_file=name)
        transaction.on_commit(lambda: record_file_delete(old))
