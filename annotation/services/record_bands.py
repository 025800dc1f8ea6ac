"""Re-banding: MinHash signatures of stored records rebuilt under the current scheme."""

from django.db import transaction

from annotation.ingest.checks import stored_bands
from annotation.ingest.minhash import BAND_SCHEME
from annotation.models import Record, Submission
from annotation.text_selectors import records_text_read

from .signatures import band_index, signatures_index, signatures_save


def records_reband(*, batch_size: int = 1000) -> int:
    """Re-band the records of every submission whose ``band_scheme`` is not BAND_SCHEME; how many records.

    The scheme is kept per submission, not per record (its records are
    banded together). Bands are computed from the stored (normalised,
    redacted) content, wherever it is kept, as ingest computes them. Each
    batch of ``batch_size`` records of a submission is one transaction: its
    signatures are saved as parts ``reband-<first id>`` and indexed. The
    submission's scheme is set after its last batch, so an interrupted run
    starts that submission again (rewriting the same parts) and a second run
    finds nothing to do. Near-duplicate marks already made are left as they are.
    """
    done = 0
    for submission_id in Submission.objects.exclude(band_scheme=BAND_SCHEME).order_by("pk").values_list("pk", flat=True):
        done += _submission_reband(submission_id, batch_size)
        Submission.objects.filter(pk=submission_id).update(band_scheme=BAND_SCHEME)
    return done


def _submission_reband(submission_id: int, batch_size: int) -> int:
    done, after = 0, 0
    while True:
        with transaction.atomic():
            batch = list(
                Record.objects.select_for_update()
                .filter(submission_id=submission_id, pk__gt=after)
                .order_by("pk")
                .only("pk", "kind", "content", "submission_id", "line")[:batch_size]
            )
            if not batch:
                return done
            contents = records_text_read(batch)  # pretraining text is in the chunk files
            _signatures_replace(submission_id, [(r.pk, r.line, r.kind, contents.get(r.pk, {})) for r in batch])
        done += len(batch)
        after = batch[-1].pk


def _signatures_replace(submission_id: int, batch: list[tuple[int, int, str, dict]]) -> None:
    bands = stored_bands([(kind, content) for _, _, kind, content in batch])
    tag = signatures_save(
        submission_id=submission_id, part=f"reband-{batch[0][0]}", lines=[line for _, line, _, _ in batch], bands=bands
    )
    with band_index().locked():
        signatures_index([tag])
