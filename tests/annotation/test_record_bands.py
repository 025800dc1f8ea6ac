"""Re-banding stored records under the current MinHash scheme (manage.py records_reband)."""

from io import StringIO

from django.core.management import call_command

from annotation.ingest.minhash import BAND_SCHEME, NUM_BANDS, band_hashes
from annotation.models import Record, RecordBand
from annotation.text_selectors import record_text_read

from .ingest_helpers import jsonl

TEXT = "Die Stadtbibliothek öffnet ab dem kommenden Montag wieder zu den gewohnten Zeiten für alle."


def _stale(record):
    """Make ``record`` look banded by an older scheme."""
    RecordBand.objects.filter(record=record).update(hash=42)
    Record.objects.filter(pk=record.pk).update(band_scheme="")


def _reband(*args):
    out = StringIO()
    call_command("records_reband", *args, stdout=out)
    return out.getvalue()


def test_ingest_stores_the_scheme_with_the_bands(submit_de):
    submission = submit_de(jsonl([{"text": TEXT}]))
    record = submission.records.get()
    assert record.band_scheme == BAND_SCHEME
    assert list(record.bands.order_by("band").values_list("hash", flat=True)) == band_hashes(TEXT)


def test_records_of_an_older_scheme_are_rebanded_in_batches(submit_de):
    submission = submit_de(jsonl([{"text": f"{TEXT} Absatz {n}."} for n in range(5)]))
    records = list(submission.records.order_by("pk"))
    for record in records[:3]:
        _stale(record)
    assert "Re-banded 3 record(s)" in _reband("--batch-size", "2")
    for record in records:
        record.refresh_from_db()
        assert record.band_scheme == BAND_SCHEME
        hashes = list(record.bands.order_by("band").values_list("hash", flat=True))
        assert hashes == band_hashes(record_text_read(record)["text"]) and len(hashes) == NUM_BANDS


def test_rebanding_again_changes_nothing(submit_de):
    submission = submit_de(jsonl([{"text": TEXT}]))
    _stale(submission.records.get())
    _reband()
    before = list(RecordBand.objects.order_by("pk").values_list("pk", "hash"))
    assert "Re-banded 0 record(s)" in _reband()
    assert list(RecordBand.objects.order_by("pk").values_list("pk", "hash")) == before
