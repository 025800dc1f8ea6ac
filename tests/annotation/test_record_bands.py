"""Re-banding stored records under the current MinHash scheme (manage.py records_reband)."""

from io import StringIO

import numpy as np
from django.core.files.storage import default_storage
from django.core.management import call_command

from annotation.dedup.index import band_keys, owner_keys
from annotation.dedup.signatures import signatures_decode
from annotation.ingest.minhash import BAND_SCHEME, NUM_BANDS, band_hashes
from annotation.models import Submission
from annotation.services.signatures import band_index, signature_parts
from annotation.text_selectors import record_text_read

from .ingest_helpers import jsonl

TEXT = "Die Stadtbibliothek öffnet ab dem kommenden Montag wieder zu den gewohnten Zeiten für alle."


def _signatures(submission_id: int) -> dict[str, dict[int, list[int]]]:
    """``{tag: {line: band hashes}}`` of a submission's signature parts."""
    found = {}
    for tag in signature_parts(submission_id=submission_id):
        with default_storage.open(f"signatures/{BAND_SCHEME}/{tag}.parquet", "rb") as stream:
            lines, bands = signatures_decode(stream.read())
        found[tag] = dict(zip(lines.tolist(), bands.tolist()))
    return found


def _stale(submission):
    """Make ``submission``'s records look banded by an older scheme."""
    Submission.objects.filter(pk=submission.pk).update(band_scheme="")


def _reband(*args):
    out = StringIO()
    call_command("records_reband", *args, stdout=out)
    return out.getvalue()


def test_ingest_stores_the_scheme_on_the_submission_and_the_signature_of_its_chunk(submit_de):
    submission = submit_de(jsonl([{"text": TEXT}]))
    record = submission.records.get()
    submission.refresh_from_db()
    assert submission.band_scheme == BAND_SCHEME
    assert _signatures(submission.pk) == {f"{submission.pk}/0": {record.line: band_hashes(TEXT)}}


def test_the_records_of_a_submission_of_an_older_scheme_are_rebanded_into_the_store_and_the_index_in_batches(submit_de):
    current = submit_de(jsonl([{"text": f"Ein anderer Text über den Hafen, Absatz {n}."} for n in range(2)]))
    submission = submit_de(jsonl([{"text": f"{TEXT} Absatz {n}."} for n in range(5)]))
    records = list(submission.records.order_by("pk"))
    _stale(submission)
    assert "Re-banded 5 record(s)" in _reband("--batch-size", "2")
    rebanded = {tag: rows for tag, rows in _signatures(submission.pk).items() if "reband" in tag}
    assert sorted(rebanded) == sorted(f"{submission.pk}/reband-{records[i].pk}" for i in (0, 2, 4))
    lines = {line: hashes for rows in rebanded.values() for line, hashes in rows.items()}
    submission.refresh_from_db()
    assert submission.band_scheme == BAND_SCHEME
    for record in records:
        assert lines[record.line] == band_hashes(record_text_read(record)["text"]) and len(lines[record.line]) == NUM_BANDS
    assert set(band_index().tags()) >= set(rebanded)
    assert not any("reband" in tag for tag in _signatures(current.pk))  # a current submission is left alone


def test_rebanding_again_changes_nothing(submit_de):
    submission = submit_de(jsonl([{"text": TEXT}]))
    _stale(submission)
    _reband()
    before = (_signatures(submission.pk), band_index().size())
    assert "Re-banded 0 record(s)" in _reband()
    assert (_signatures(submission.pk), band_index().size()) == before


def test_a_rebanded_record_is_found_in_the_index(submit_de):
    submission = submit_de(jsonl([{"text": TEXT}]))
    record = submission.records.get()
    _stale(submission)
    _reband()
    first = band_index().first_owners(band_keys(np.array([band_hashes(TEXT)], dtype=np.int64)))
    assert (first == owner_keys(submission.pk, np.array([record.line]))).all()
