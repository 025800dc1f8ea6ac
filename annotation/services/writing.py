"""Writing tasks: annotators write new records in their language, credited to them.

What they write goes through the same checks as an upload (normalise,
redact, language ID, quality, MinHash, tokens) and then waits for review in
the language's queues like any other record. Each author has one writing
submission per language and kind, under the portal's community partner.
"""

import json
import uuid

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Max
from django.utils.translation import gettext as _

from annotation.ingest import schemas
from annotation.ingest.checks import check_record
from annotation.models import Record, Submission
from annotation.models.records import quality_columns
from annotation.review_selectors import is_certified
from annotation.services.near_duplicates import near_duplicates_mark
from annotation.services.signatures import signatures_save
from occiportal.models import Partner

COMMUNITY = {"slug": "community", "name": "Occiportal community"}
WRITING_LICENSE = "CC-BY-4.0"
WRITING_NAME = "written-on-the-portal"


@transaction.atomic
def writing_create(*, author, language, kind: str, content: dict, source_record=None, edit_of=None) -> Record:
    """Check and store a record ``author`` wrote (or translated, or corrected); return it, pending review.

    ``source_record`` is the record written from (``meta`` only): the prompt
    shown from another language for a translation, or the preference record
    a better response was written for in review; ``edit_of`` the record an edit corrects, kept on the new
    record's ``edit_of`` column, which snapshots trust (``meta`` on uploads is
    the partner's word). Raises
    ``ValidationError`` for content of the wrong shape, past the size limit of
    one record (``INGEST["MAX_RECORD_BYTES"]``, as for an upload's line) or
    already in the portal.
    """
    if not is_certified(author, language.code):
        raise PermissionDenied(_("You are not certified to write in this language."))
    _check_size(content)
    try:
        content, _id, _meta = schemas.validate(kind, content)
    except schemas.RecordError as error:
        raise ValidationError({"content": str(error)})
    checked = check_record(kind, content, language=language.code, tokenizer=settings.INGEST["TOKENIZER"])
    if Record.objects.filter(content_hash=checked.content_hash).exists():
        raise ValidationError({"content": _("This text is already in the portal.")})
    submission = _writing_submission(author=author, language=language, kind=kind)
    line = (submission.records.aggregate(last=Max("line"))["last"] or 0) + 1
    meta = {"author": author.get_username(), "written": True}
    meta |= {"source_record": source_record.pk} if source_record else {}
    meta |= {"edit_of": edit_of.pk} if edit_of else {}
    record = Record.objects.create(
        submission=submission, line=line, language=language, kind=kind, content=checked.content, meta=meta,
        edit_of=edit_of, content_hash=checked.content_hash, detected_language=checked.detected_language,
        language_score=checked.language_score, language_mismatch=checked.language_mismatch,
        pii_redactions=checked.pii_redactions, tokens=checked.tokens,
        **quality_columns(checked.quality),
    )
    tag = signatures_save(submission_id=submission.pk, part=f"w{line}", lines=[line], bands=[checked.bands])
    # Once committed: the index must not hold a record a rollback took back.
    transaction.on_commit(lambda: near_duplicates_mark(submission_id=submission.pk, tags=[tag]))
    Submission.objects.filter(pk=submission.pk).update(
        records_read=F("records_read") + 1, records_accepted=F("records_accepted") + 1, tokens=F("tokens") + checked.tokens
    )
    return record


def _check_size(content: dict) -> None:
    # Measured as the record's JSON line in an upload would be, before any costlier check reads it.
    size = len(json.dumps(content, ensure_ascii=False).encode("utf-8"))
    limit = settings.INGEST["MAX_RECORD_BYTES"]
    if size > limit:
        raise ValidationError({"content": _("The record is %(size)s bytes; the limit for one record is %(limit)s bytes.")
                               % {"size": f"{size:,}", "limit": f"{limit:,}"}})


def _writing_submission(*, author, language, kind) -> Submission:
    # Locked, so that two records written at once get different lines.
    partner, _created = Partner.objects.get_or_create(slug=COMMUNITY["slug"], defaults={"name": COMMUNITY["name"]})
    mine = Submission.objects.select_for_update().filter(
        partner=partner, uploader=author, language=language, kind=kind, original_name=WRITING_NAME,
        withdrawn_at__isnull=True,  # what an author withdrew stays withdrawn: new writing starts a new one
    )
    return mine.first() or Submission.objects.create(
        uuid=uuid.uuid4(), partner=partner, uploader=author, language=language, kind=kind, license=WRITING_LICENSE,
        source=_("Written on the portal by %(name)s.") % {"name": author.get_username()}, consent=True,
        original_name=WRITING_NAME, status=Submission.Status.READY,
    )


def writing_source_pick(*, language, kind: str = "instruction") -> Record | None:
    """An accepted prompt from another language, to translate and adapt."""
    others = Record.objects.filter(kind=kind, status=Record.Status.ACCEPTED).exclude(language=language)
    return others.order_by("?").first()
