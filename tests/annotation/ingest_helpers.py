"""Create submissions through the service and ingest them in-process."""

import io
import json
import zipfile

from annotation.models import Submission
from annotation.services import ingest
from annotation.services.submissions import submission_create
from django.core.files.uploadedfile import SimpleUploadedFile


def jsonl(rows) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def submit(*, user, partner, language, content, name="data.jsonl", kind="pretraining", license="CC-BY-4.0"):
    data = content.encode("utf-8") if isinstance(content, str) else content
    return submission_create(
        uploader=user, partner=partner, language=language, kind=kind, license=license,
        source="Written for the tests.", consent=True, file=SimpleUploadedFile(name, data),
    )


def ingest_now(submission) -> Submission:
    """Run plan → chunks → finish in this process, as the tasks would."""
    for chunk_id in ingest.ingest_start(submission_id=submission.pk):
        ingest.ingest_chunk_process(chunk_id=chunk_id)
    ingest.ingest_finish(submission_id=submission.pk)
    return Submission.objects.get(pk=submission.pk)


def zipped(members: dict) -> bytes:
    """A zip archive holding ``{name: bytes}``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def english(errors):
    """The line and English text of each kept error (they also hold the translatable template)."""
    return [{"line": error["line"], "message": error["message"]} for error in errors]
