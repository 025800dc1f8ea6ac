"""Re-banding: MinHash bands of stored records rebuilt under the current scheme."""

from django.db import transaction

from annotation.ingest.checks import stored_bands
from annotation.ingest.minhash import BAND_SCHEME
from annotation.models import Record, RecordBand
from annotation.text_selectors import records_text_read


def records_reband(*, batch_size: int = 1000) -> int:
    """Rebuild the bands of every record whose ``band_scheme`` is not BAND_SCHEME; return how many.

    Bands are computed from the stored (normalised, redacted) content, wherever it is kept, as
    ingest computes them. Each batch of ``batch_size`` records is one
    transaction: its RecordBand rows are replaced and its scheme set, so an
    interrupted run resumes where it stopped and a second run finds nothing
    to do. Near-duplicate marks already made are left as they are.
    """
    done, after = 0, 0
    while True:
        with transaction.atomic():
            batch = list(
                Record.objects.select_for_update()
                .filter(pk__gt=after)
                .exclude(band_scheme=BAND_SCHEME)
                .order_by("pk")
                .only("pk", "kind", "content", "submission_id", "line")[:batch_size]
            )
            if not batch:
                return done
            contents = records_text_read(batch)  # pretraining text is in the chunk files
            _replace_bands([(r.pk, r.kind, contents.get(r.pk, {})) for r in batch])
        done += len(batch)
        after = batch[-1].pk


def _replace_bands(batch: list[tuple[int, str, dict]]) -> None:
    ids = [pk for pk, _, _ in batch]
    bands = stored_bands([(kind, content) for _, kind, content in batch])
    RecordBand.objects.filter(record_id__in=ids).delete()
    RecordBand.objects.bulk_create(
        [RecordBand(record_id=pk, band=band, hash=value) for pk, row in zip(ids, bands) for band, value in enumerate(row)]
    )
    Record.objects.filter(pk__in=ids).update(band_scheme=BAND_SCHEME)
