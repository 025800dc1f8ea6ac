"""check_records: a batch gives what each record alone gives."""

from annotation.ingest.checks import check_record, check_records, stored_bands
from tests.annotation.texts import GERMAN

CONTENTS = [{"text": " ".join(GERMAN[i : i + 6])} for i in range(0, 14, 2)] + [{"text": "Kurz."}, {"text": " \u200b "}]


def test_a_batch_checks_each_record_as_alone():
    batch = check_records("pretraining", CONTENTS, language="de", tokenizer="regex")
    alone = [check_record("pretraining", content, language="de", tokenizer="regex") for content in CONTENTS]
    assert batch == alone


def test_stored_bands_are_the_bands_ingest_made():
    checked = check_records("pretraining", CONTENTS, language="de", tokenizer="regex")
    assert stored_bands([("pretraining", c.content) for c in checked]) == [c.bands for c in checked]
