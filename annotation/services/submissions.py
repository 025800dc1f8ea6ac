"""Writes on submissions: create one and hand it to ingest."""

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from annotation import licenses
from annotation.models import Submission
from annotation.models.submissions import Kind
from occiportal.broker import send_on_commit

INGEST_SUBMISSION = "annotation.tasks.ingest_submission"


@transaction.atomic
def submission_create(
    *,
    uploader,
    partner,
    language,
    kind: str,
    license: str,
    source: str,
    consent: bool,
    file,
    original_name: str | None = None,
) -> Submission:
    """Store an upload and queue its ingest once the transaction commits.

    A broker that cannot be reached then is logged, not raised: the
    submission stays "received" and the ingest sweeper sends it.

    The caller has already checked that ``uploader`` may submit for
    ``partner`` (``access_partner_for_submitting``). Raises
    ``ValidationError`` for anything the form or API should report.
    """
    original_name = original_name or getattr(file, "name", "upload")
    _validate(kind=kind, license=license, consent=consent, source=source, size=file.size)
    submission = Submission(
        uuid=uuid.uuid4(),
        partner=partner,
        uploader=uploader,
        language=language,
        kind=kind,
        license=license,
        source=source.strip(),
        consent=consent,
        original_name=original_name[:255],
        size_bytes=file.size,
    )
    submission.file.save(_safe_filename(original_name), file, save=False)
    submission.save()
    send_on_commit(INGEST_SUBMISSION, args=[submission.pk])
    return submission


def _validate(*, kind, license, consent, source, size):
    errors = {}
    if kind not in Kind.values:
        errors["kind"] = _("Unknown kind %(kind)s; use one of %(kinds)s.") % {"kind": kind, "kinds": ", ".join(Kind.values)}
    if license not in licenses.BY_SPDX:
        errors["license"] = _("Unknown licence %(license)s; use an SPDX identifier from the list.") % {"license": license}
    if not consent:
        errors["consent"] = _("Confirm that your organisation may give this data under this licence.")
    if not source or not source.strip():
        errors["source"] = _("Say where the data comes from.")
    limit = settings.INGEST["MAX_UPLOAD_BYTES"]
    if size == 0:
        errors["file"] = _("The file is empty.")
    elif size > limit:
        errors["file"] = _("The file is %(size)s bytes; the limit is %(limit)s bytes.") % {"size": size, "limit": limit}
    if errors:
        raise ValidationError(errors)


def _safe_filename(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in base).lstrip(".")
    return cleaned[:150] or "upload"
