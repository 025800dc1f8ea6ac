"""Re-banding: MinHash signatures of stored records rebuilt under the current scheme."""

from collections import defaultdict

from django.db import transaction

from annotation.ingest.checks import stored_bands
from annotation.ingest.minhash import BAND_SCHEME
from annotation.models import Record
from annotation.text_selectors import records_text_read

from .signatures import band_index, signatures_index, signatures_save


def records_reband(*, batch_size: int = 1000) -> int:
    """Re-band every record whose ``band_scheme`` is not BAND_SCHEME into the signature store and index; how many.

    Bands are computed from the stored (normalised, redacted) content, wherever it is kept, as
    ingest computes them. Each batch of ``batch_size`` records is one
    transaction: its signatures are saved as parts ``reband-<first id>`` of
    their submissions and indexed, then its scheme set, so an interrupted
    run resumes where it stopped (rewriting the same parts) and a second run
    finds nothing to do. Near-duplicate marks already made are left as they are.
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
            _signatures_replace([(r.pk, r.submission_id, r.line, r.kind, contents.get(r.pk, {})) for r in batch])
        done += len(batch)
        after = batch[-1].pk


def _signatures_replace(batch: list[tuple[int, int, int, str, dict]]) -> None:
    bands = stored_bands([(kind, content) for _, _, _, kind, content in batch])
    parts: dict[int, tuple[list, list]] = defaultdict(lambda: ([], []))
    for (_pk, submission_id, line, _kind, _content), row in zip(batch, bands):
        parts[submission_id][0].append(line)
        parts[submission_id][1].append(row)
    part = f"reband-{batch[0][0]}"
    tags = [signatures_save(submission_id=s, part=part, lines=lines, bands=b) for s, (lines, b) in parts.items()]
    with band_index().locked():
        signatures_index(tags)
    Record.objects.filter(pk__in=[row[0] for row in batch]).update(band_scheme=BAND_SCHEME)
